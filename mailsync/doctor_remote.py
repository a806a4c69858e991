"""Doctor checks that reach out: the Discord token (GET /users/@me, as a login does), the
OAuth2 providers' endpoints, and whether the web endpoint's port is free. Each is bounded
in time; none prints a secret."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping

import discord
import requests

from mail import oauth
from mailsync.doctor_result import Result

DISCORD_TIMEOUT = 20.0  # discord.py retries a 5xx a few times within this
HTTP_TIMEOUT = (5.0, 10.0)  # connect, read


async def _login(token: str) -> discord.User | dict:
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        return await asyncio.wait_for(http.static_login(token), DISCORD_TIMEOUT)
    finally:
        await http.close()


def check_discord(token: str) -> Result:
    try:
        user = asyncio.run(_login(token))
    except discord.LoginFailure:
        hint = "Developer Portal -> your application -> Bot -> Reset Token, then put it in .env"
        return Result.problem("discord", "Discord refused DISCORD_TOKEN (401)", hint)
    except discord.HTTPException as exc:
        hint = "try again later; https://discordstatus.com says whether Discord is down"
        return Result.problem("discord", f"Discord answered {exc.status}", hint)
    except (OSError, TimeoutError, Exception) as exc:  # aiohttp's errors are OSErrors or not
        hint = "check this host's network and DNS, and any proxy"
        return Result.problem("discord", f"Discord did not answer: {type(exc).__name__}", hint)
    name = user.get("username", "?") if isinstance(user, dict) else str(user)
    return Result.ok("discord", f"DISCORD_TOKEN accepted: logged in as {name}")


def check_port(host: str, port: int) -> Result:
    if port == 0:
        return Result.ok("web", "web endpoint off (MAILSYNC_HTTP_PORT=0)")
    hint = (
        "stop what listens there (a running Mailsync counts) or set MAILSYNC_HTTP_PORT to a "
        "free port (0 turns the endpoint off)"
    )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return Result.problem("web", f"MAILSYNC_HTTP_HOST {host}: {exc.strerror or exc}", hint)
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
            try:
                probe.bind(address)
            except OSError as exc:
                detail = f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                return Result.problem("web", detail, hint)
    return Result.ok("web", f"{host}:{port} is free for the web endpoint")


def _endpoints(provider: oauth.Provider) -> list[tuple[str, str]]:
    found = [("token", provider.token_endpoint)]
    if provider.device_authorization_endpoint:
        found.append(("device authorization", provider.device_authorization_endpoint))
    if provider.authorization_endpoint:
        found.append(("authorization", provider.authorization_endpoint))
    return found


def _answers(url: str) -> str | None:
    """None when the endpoint answers over HTTP (any status below 500: a GET without
    parameters is expected to be refused); else what went wrong."""
    try:
        response = requests.get(url, timeout=HTTP_TIMEOUT, allow_redirects=False)
    except requests.RequestException as exc:
        return f"did not answer ({type(exc).__name__})"
    response.close()
    return f"answered {response.status_code}" if response.status_code >= 500 else None


def check_oauth(
    providers: Mapping[str, oauth.Provider], in_use: Mapping[str, list[int]] | None
) -> Result:
    """The providers that stored accounts use are configured, and every configured
    provider's endpoints answer. `in_use` is None when the store could not be read."""
    missing = {name: ids for name, ids in (in_use or {}).items() if name not in providers}
    if missing:
        name, ids = next(iter(sorted(missing.items())))
        accounts = ", ".join(map(str, ids))
        hint = "configure that provider again (docs/oauth.md)"
        return Result.problem(
            "oauth", f"`{name}` is not configured; account(s) {accounts} use it", hint
        )
    if not providers:
        return Result.ok("oauth", "no OAuth2 provider configured (password sign-in only)")
    failures = []
    for name, provider in sorted(providers.items()):
        for what, url in _endpoints(provider):
            if (failure := _answers(url)) is not None:
                failures.append(f"`{name}` {what} endpoint {url} {failure}")
    if failures:
        hint = "check the endpoint URLs (MAILSYNC_OAUTH_PROVIDERS_FILE) and this host's network"
        return Result.problem("oauth", "; ".join(failures), hint)
    return Result.ok("oauth", f"endpoints of {', '.join(sorted(providers))} answer")
