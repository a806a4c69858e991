"""The REST API: recording every request, failure injection and the route table.

Message-creating routes (channel posts, interaction callbacks, webhooks) are in messages.py.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .records import RecordedRequest
from .specs import snowflake
from .wire import API_PREFIX, _error, _json, _read_body


@dataclass
class _Failure:
    method: str
    pattern: re.Pattern[str]
    status: int
    retry_after: float
    body: dict[str, Any] | None = None
    is_global: bool = False
    until: float | None = None  # monotonic end of a timed outage (fail_for)

    def matches(self, method: str, path: str) -> bool:
        if self.until is not None and time.monotonic() >= self.until:
            return False
        return self.method in ("*", method) and self.pattern.search(path) is not None


class RestMixin:
    """REST handling of `DiscordDouble`: records, injects failures, routes."""

    # ----------------------------------------------------------------- failure injection

    def fail_next(
        self,
        method: str,
        path_regex: str,
        statuses: Sequence[int] = (429, 503, 503),
        retry_after: float = 0.05,
        *,
        is_global: bool = False,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next matching requests with ``statuses``, one each, then normally.

        ``method`` may be "*"; ``path_regex`` is searched in the path relative to /api/v10.
        A 429 carries ``retry_after`` in its JSON body and the rate-limit headers.
        """
        pattern = re.compile(path_regex)
        for status in statuses:
            self._failures.append(
                _Failure(method.upper(), pattern, int(status), retry_after, body, is_global)
            )

    def set_status(
        self, method: str, path_regex: str, status: int, body: dict[str, Any] | None = None
    ) -> None:
        """Answer every matching request with ``status`` until ``clear_status``."""
        self._persistent.append(
            _Failure(method.upper(), re.compile(path_regex), int(status), 0.05, body)
        )

    def fail_for(self, method: str, path_regex: str, seconds: float, status: int = 503) -> float:
        """An outage measured in time, not requests: every matching request is answered
        with ``status`` for ``seconds`` from now. Returns the monotonic time it ends."""
        until = time.monotonic() + seconds
        self._persistent.append(
            _Failure(method.upper(), re.compile(path_regex), int(status), 0.05, until=until)
        )
        return until

    def end_timed_failures_at(self, until: float) -> None:
        """Move the end of every fail_for outage to the monotonic time ``until`` (a test
        can start an outage at the first failure it sees, whatever the machine's load)."""
        for failure in self._persistent:
            if failure.until is not None:
                failure.until = until

    def clear_status(self, method: str | None = None, path_regex: str | None = None) -> None:
        """Drop persistent statuses (all, or those set with this method and regex)."""
        self._persistent = [
            f
            for f in self._persistent
            if not (
                (method is None or f.method == method.upper())
                and (path_regex is None or f.pattern.pattern == path_regex)
            )
        ]

    def clear_failures(self) -> None:
        self._failures.clear()
        self._persistent.clear()

    # ----------------------------------------------------------------- REST

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.match_info.get("tail", "")
        full = "/" + raw_path
        path = full[len(API_PREFIX) :] if full.startswith(API_PREFIX + "/") else full
        body, files = await _read_body(request)
        record = RecordedRequest(
            index=len(self.requests),
            method=request.method,
            path=path,
            query=dict(request.query),
            json=body,
            files=files,
            headers=dict(request.headers),
            timestamp=time.time(),
            monotonic=time.monotonic(),
        )
        self.requests.append(record)
        try:
            response = self._limited(record) or self._injected(record)  # limits.py
            if response is None:
                if not full.startswith(API_PREFIX + "/"):
                    response = _error(404, "Unknown API version or path", 0)
                else:
                    response = self._route(record)
                    await self._flush_dispatches()  # e.g. THREAD_CREATE, before the answer
            if response.status != 429:
                self._bucket_headers(record, response)
            await self._answer_later(record)
            record.status = response.status
            if response.body and response.content_type == "application/json":
                record.response = json.loads(bytes(response.body))
            return response
        finally:
            await self._notify()

    def _injected(self, record: RecordedRequest) -> web.Response | None:
        failure = next((f for f in self._failures if f.matches(record.method, record.path)), None)
        if failure is not None:
            self._failures.remove(failure)
        else:
            failure = next(
                (f for f in self._persistent if f.matches(record.method, record.path)), None
            )
        if failure is None:
            return None
        if failure.status == 429:
            body = failure.body or {
                "message": "You are being rate limited.",
                "retry_after": failure.retry_after,
                "global": failure.is_global,
            }
            headers = {
                "Retry-After": str(max(1, round(failure.retry_after))),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": f"{time.time() + failure.retry_after:.3f}",
                "X-RateLimit-Reset-After": f"{failure.retry_after:.3f}",
                "X-RateLimit-Bucket": "double-bucket",
                "X-RateLimit-Scope": "shared" if not failure.is_global else "global",
            }
            if failure.is_global:
                headers["X-RateLimit-Global"] = "true"
            return _json(body, status=429, headers=headers)
        default = {
            403: ("Missing Access", 50001),
            404: ("Unknown", 0),
            401: ("401: Unauthorized", 0),
            400: ("Invalid Form Body", 50035),
        }.get(failure.status, ("Server error", 0))
        return _json(failure.body or {"message": default[0], "code": default[1]}, failure.status)

    def _route(self, r: RecordedRequest) -> web.Response:
        for method, pattern, handler in self._routes():
            if method != r.method:
                continue
            m = pattern.fullmatch(r.path)
            if m is not None:
                return handler(r, *m.groups())
        return _error(404, "Unknown", 0)

    def _routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., web.Response]]]:
        d = r"(\d+)"
        hook = r"/webhooks/(\d+)/([^/]+)"
        table: list[tuple[str, str, Callable[..., web.Response]]] = [
            ("GET", "/users/@me", lambda r: _json(self.bot_user())),
            ("GET", "/oauth2/applications/@me", lambda r: _json(self._app_info())),
            ("GET", "/applications/@me", lambda r: _json(self._app_info())),
            ("GET", "/gateway", lambda r: _json({"url": self.ws_url})),
            ("GET", "/gateway/bot", lambda r: _json(self._gateway_bot())),
            ("PUT", f"/applications/{d}/commands", self._put_commands),
            ("PUT", f"/applications/{d}/guilds/{d}/commands", self._put_commands),
            ("GET", f"/applications/{d}/commands", self._get_commands),
            ("GET", f"/applications/{d}/guilds/{d}/commands", self._get_commands),
            ("POST", f"/interactions/{d}/([^/]+)/callback", self._callback),
            ("POST", hook, self._followup),
            ("GET", hook + r"/messages/(@original|\d+)", self._webhook_get),
            ("PATCH", hook + r"/messages/(@original|\d+)", self._webhook_edit),
            ("DELETE", hook + r"/messages/(@original|\d+)", self._webhook_delete),
            ("POST", f"/channels/{d}/messages", self._post_message),
            ("POST", f"/channels/{d}/messages/{d}/threads", self._start_thread_from_message),
            ("POST", f"/channels/{d}/threads", self._start_thread),
            ("GET", f"/channels/{d}/messages/{d}", self._get_message),
            ("PATCH", f"/channels/{d}/messages/{d}", self._edit_message),
            ("DELETE", f"/channels/{d}/messages/{d}", self._delete_message),
            ("GET", f"/channels/{d}", self._get_channel),
            ("GET", f"/guilds/{d}", self._get_guild),
            ("GET", f"/guilds/{d}/channels", self._get_guild_channels),
            ("GET", f"/guilds/{d}/members/{d}", self._get_member),
        ]
        return [(m, re.compile(p), h) for m, p, h in table]

    # -- commands, channels, guilds, members

    def _put_commands(self, r: RecordedRequest, app_id: str, guild_id: str | None = None):
        if int(app_id) != self.application_id:
            return _error(403, "Missing Access", 50001)
        if not isinstance(r.json, list):
            return _error(400, "Invalid Form Body", 50035)
        key = int(guild_id) if guild_id is not None else None
        previous = {c["name"]: c for c in self._commands.get(key, [])}
        stored = []
        for command in r.json:
            old = previous.get(command.get("name"))
            entry = {
                "type": 1,
                "default_member_permissions": None,
                "nsfw": False,
                **command,
                "id": old["id"] if old else str(snowflake()),
                "application_id": str(self.application_id),
                "version": str(snowflake()),
            }
            if key is not None:
                entry["guild_id"] = str(key)
            stored.append(entry)
        self._commands[key] = stored
        return _json(stored)

    def _get_commands(self, r: RecordedRequest, app_id: str, guild_id: str | None = None):
        return _json(self.synced_commands(int(guild_id) if guild_id else None))

    def _get_channel(self, r: RecordedRequest, channel_id: str) -> web.Response:
        found = self._find_channel(int(channel_id))
        if found is None:
            return _error(404, "Unknown Channel", 10003)
        guild, channel = found
        return _json(self._channel_payload(guild, channel))

    def _get_guild(self, r: RecordedRequest, guild_id: str) -> web.Response:
        try:
            guild = self.get_guild(int(guild_id))
        except KeyError:
            return _error(404, "Unknown Guild", 10004)
        if guild.id in self._removed_guilds:
            return _error(403, "Missing Access", 50001)
        payload = self._guild_payload(guild, include_members=False)
        for key in ("channels", "members", "threads", "presences", "voice_states"):
            payload.pop(key, None)
        return _json(payload)

    def _get_guild_channels(self, r: RecordedRequest, guild_id: str) -> web.Response:
        try:
            guild = self.get_guild(int(guild_id))
        except KeyError:
            return _error(404, "Unknown Guild", 10004)
        return _json([self._channel_payload(guild, c) for c in guild.channels])

    def _get_member(self, r: RecordedRequest, guild_id: str, user_id: str) -> web.Response:
        try:
            guild = self.get_guild(int(guild_id))
            if int(user_id) == self.bot_user_id:
                return _json(self._bot_member_payload(guild))
            return _json(self._member_payload(guild, guild.member(int(user_id))))
        except KeyError:
            return _error(404, "Unknown Member", 10007)
