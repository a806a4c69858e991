"""`IdentityProvider`: settings, per-test state, and an aiohttp server on its own thread and
event loop, composed with the mixins that serve each flow."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .authorize import RedirectFlowMixin
from .device import DeviceFlowMixin
from .inspection import InspectionMixin
from .records import AuthorizationCode, DeviceGrant, Failure, RecordedRequest, Token
from .tokens import TokensMixin
from .wire import (
    AUTHORIZE_PATH,
    DEVICE_PATH,
    INTROSPECT_PATH,
    TOKEN_PATH,
    VERIFICATION_PATH,
    OAuthError,
    json_response,
)

START_TIMEOUT = 10.0

# The defaults `reset()` restores; tests change them per test.
DEFAULTS: dict[str, Any] = {
    "client_id": "mailsync-test",
    "client_secret": "",
    "device_interval": 1.0,
    "device_expires_in": 900.0,
    "slow_down_increment": 5.0,
    "poll_slack": 0.02,
    "access_ttl": 3600.0,
    "code_ttl": 600.0,
    "rotate_refresh_tokens": True,
    "redirect_uris": None,
}


@dataclass
class Call:
    """One request as the handlers see it (already read; handlers run under the lock)."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: Any  # CIMultiDictProxy
    now: float  # monotonic arrival time


Handler = Callable[[Call], web.Response]


class IdentityProvider(InspectionMixin, DeviceFlowMixin, RedirectFlowMixin, TokensMixin):
    """An OAuth2 authorization server on loopback. See the package docstring."""

    client_id: str
    client_secret: str
    device_interval: float
    device_expires_in: float
    slow_down_increment: float
    poll_slack: float
    access_ttl: float
    code_ttl: float
    rotate_refresh_tokens: bool
    redirect_uris: list[str] | None

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._all_tokens: list[str] = []  # every token ever issued; reset() keeps them
        self.reset()

    def reset(self) -> None:
        """Forget everything of the last test: settings back to defaults, no requests, grants,
        codes, tokens, sign-in or injected failures. The server keeps running on its port."""
        with self._lock:
            for name, value in DEFAULTS.items():
                setattr(self, name, value)
            self.requests: list[RecordedRequest] = []
            self._grants: dict[str, DeviceGrant] = {}  # device_code -> grant
            self._user_codes: dict[str, str] = {}  # user_code -> device_code
            self._codes: dict[str, AuthorizationCode] = {}
            self._tokens: dict[str, Token] = {}
            self._signed_in: str | None = None
            self._deny_authorize = 0
            self._failures: list[Failure] = []
            self._last_issued: dict[str, Any] = {}

    # ----------------------------------------------------------------- addresses

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def device_authorization_endpoint(self) -> str:
        return self.base_url + DEVICE_PATH

    @property
    def verification_uri(self) -> str:
        return self.base_url + VERIFICATION_PATH

    @property
    def authorization_endpoint(self) -> str:
        return self.base_url + AUTHORIZE_PATH

    @property
    def token_endpoint(self) -> str:
        return self.base_url + TOKEN_PATH

    @property
    def introspection_endpoint(self) -> str:
        return self.base_url + INTROSPECT_PATH

    # ----------------------------------------------------------------- failure injection

    def fail_next(
        self,
        path: str,
        statuses: int | list[int] | tuple[int, ...] = 503,
        *,
        method: str = "*",
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next requests whose path matches the regex ``path`` with ``statuses``
        (one request each), then normally. ``body`` is the JSON sent (default
        ``{"error": "temporarily_unavailable"}``)."""
        if isinstance(statuses, int):
            statuses = [statuses]
        with self._lock:
            for status in statuses:
                self._failures.append(Failure(method.upper(), path, int(status), body))

    # ----------------------------------------------------------------- lifecycle

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Serve on a free port of 127.0.0.1 from a daemon thread with its own loop."""
        if self.running:
            return
        ready = threading.Event()
        problem: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._start_site())
            except BaseException as exc:
                problem.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._stop_site())
                loop.close()

        self._thread = threading.Thread(target=serve, name="idp-double", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT):
            raise RuntimeError(f"the IdP double did not start within {START_TIMEOUT} s")
        if problem:
            self._thread.join()
            self._thread = None
            raise RuntimeError(f"the IdP double failed to start: {problem[0]!r}") from problem[0]

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        self._thread = self._loop = None

    def __enter__(self) -> IdentityProvider:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _start_site(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop_site(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ----------------------------------------------------------------- dispatch and recording

    def _routes(self) -> dict[tuple[str, str], Handler]:
        return {
            ("POST", DEVICE_PATH): self._device_code,
            ("GET", VERIFICATION_PATH): self._verification_page,
            ("GET", AUTHORIZE_PATH): self._authorize,
            ("POST", TOKEN_PATH): self._token,
            ("POST", INTROSPECT_PATH): self._introspect,
        }

    async def _dispatch(self, request: web.Request) -> web.Response:
        now, stamp = time.monotonic(), time.time()
        form: dict[str, str] = {}
        if request.method == "POST" and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            posted = await request.post()
            form = {key: str(value) for key, value in posted.items()}
        call = Call(request.method, request.path, dict(request.query), form, request.headers, now)
        with self._lock:
            record = RecordedRequest(
                index=len(self.requests),
                method=call.method,
                path=call.path,
                query=call.query,
                form=call.form,
                headers=dict(request.headers),
                timestamp=stamp,
                monotonic=now,
            )
            self.requests.append(record)
            response = self._answer(call)
            record.status = response.status
            record.location = response.headers.get("Location")
            if response.content_type == "application/json" and response.body is not None:
                record.response = json.loads(response.body)  # type: ignore[arg-type]
        return response

    def _answer(self, call: Call) -> web.Response:
        for failure in self._failures:
            if failure.method in ("*", call.method) and re.search(failure.path, call.path):
                self._failures.remove(failure)
                body = failure.body or {"error": "temporarily_unavailable"}
                return json_response(body, failure.status)
        handler = self._routes().get((call.method, call.path))
        if handler is None:
            allowed = [m for (m, p) in self._routes() if p == call.path]
            status = 405 if allowed else 404
            return json_response({"error": "not_found" if status == 404 else "bad_method"}, status)
        try:
            return handler(call)
        except OAuthError as exc:
            response = json_response(exc.body(), exc.status)
            if exc.status == 401:
                response.headers["WWW-Authenticate"] = 'Basic realm="idp-double"'
            return response
