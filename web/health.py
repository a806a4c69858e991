"""/healthz and /metrics on the bot's web endpoint.

/healthz answers 200 when every shard of this process is connected to Discord and the
store answers, else 503, with a JSON body an operator (or a load balancer) can read.
/metrics is the Prometheus text format of the bot's own registry (watch/metrics.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from watch.metrics import Metrics
from web.app import WebServer

Status = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


def add_health_routes(
    server: WebServer, status: Status, metrics: Metrics, refresh: Callable[[], Awaitable[None]]
) -> None:
    """`status()` says whether the process is healthy and what to show; `refresh()` brings
    the gauges read at scrape time up to date."""

    async def healthz(_request: web.Request) -> web.Response:
        healthy, body = await status()
        return web.Response(
            text=json.dumps(body, sort_keys=True),
            status=200 if healthy else 503,
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def metrics_page(_request: web.Request) -> web.Response:
        await refresh()
        text = await asyncio.to_thread(generate_latest, metrics.registry)
        response = web.Response(body=text, headers={"Cache-Control": "no-store"})
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    server.add_get("/healthz", healthz)
    server.add_get("/metrics", metrics_page)
