"""HTTP details shared by the REST handlers: paths, JSON responses as Discord sends them,
and request bodies (JSON or multipart with ``payload_json``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

API_PREFIX = "/api/v10"
WS_PATH = "/gateway-ws"


def _json(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    # discord.py parses JSON only when the content type is exactly "application/json";
    # web.json_response would add "; charset=utf-8".
    all_headers = {"Content-Type": "application/json", "Via": "1.1 google"}
    all_headers.update(headers or {})
    return web.Response(body=json.dumps(body).encode(), status=status, headers=all_headers)


def _error(status: int, message: str, code: int) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


async def _read_body(request: web.Request) -> tuple[Any, list[dict[str, Any]]]:
    if not request.can_read_body:
        return None, []
    if request.content_type.startswith("multipart/"):
        body: Any = None
        files: list[dict[str, Any]] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            data = await part.read()  # type: ignore[union-attr]
            name = part.name  # type: ignore[union-attr]
            if name == "payload_json":
                body = json.loads(data)
            else:
                files.append(
                    {
                        "field": name,
                        "filename": part.filename,  # type: ignore[union-attr]
                        "content_type": part.headers.get("Content-Type"),  # type: ignore[union-attr]
                        "data": bytes(data),
                    }
                )
        return body, files
    raw = await request.read()
    if not raw:
        return None, []
    try:
        return json.loads(raw), []
    except ValueError:
        return raw.decode("utf-8", "replace"), []
