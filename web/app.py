"""One aiohttp application on MAILSYNC_HTTP_HOST:MAILSYNC_HTTP_PORT, started and stopped
with the bot. Features add their routes before it starts."""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class WebPortError(Exception):
    """The configured address cannot be listened on (e.g. the port is in use)."""


class WebServer:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.app = web.Application()
        self._runner: web.AppRunner | None = None

    @property
    def enabled(self) -> bool:
        return self.port != 0

    def add_get(self, path: str, handler: Handler) -> None:
        self.app.router.add_get(path, handler)

    async def start(self) -> None:
        if not self.enabled:
            return
        self._runner = web.AppRunner(self.app, access_log=None)  # no URLs (codes) in logs
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise WebPortError(
                f"cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); set "
                "MAILSYNC_HTTP_PORT to a free port (0 turns the web endpoint off)."
            ) from exc
        log.info("web endpoint on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def page(title: str, text: str, status: int = 200) -> web.Response:
    """A small self-contained HTML page; every text is escaped."""
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:36em;margin:4em auto;line-height:1.5}"
        "</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    )
    return web.Response(
        text=body,
        status=status,
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )
