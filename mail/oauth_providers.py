"""OAuth2 providers (SPEC section 7): the presets, the TOML file of more, the rule that
endpoints are https (plain http only on loopback), and which provider claims a host."""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from i18n import N_
from mail.errors import MailError

MICROSOFT_HOSTS = (
    "outlook.office365.com",
    "outlook.office.com",
    "imap-mail.outlook.com",
    "pop-mail.outlook.com",
)
MICROSOFT_SCOPES = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/POP.AccessAsUser.All",
    # Replies over SMTP (docs/replies.md); accounts signed in before need /mail reauth.
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
)
GOOGLE_HOSTS = ("imap.gmail.com", "pop.gmail.com")
GOOGLE_SCOPES = ("https://mail.google.com/",)


class OAuthConfigError(ValueError):
    """A provider setting that cannot work; raised at start, with the fix in the text."""


class OAuthError(MailError):
    kind = "oauth"


@dataclass(frozen=True)
class Provider:
    name: str
    hosts: tuple[str, ...]
    flow: str  # "device" or "redirect"
    token_endpoint: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    scopes: tuple[str, ...] = ()
    device_authorization_endpoint: str = ""
    authorization_endpoint: str = ""
    extra_authorize_params: tuple[tuple[str, str], ...] = ()

    def claims(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_endpoint(provider: str, name: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return
    raise OAuthConfigError(
        f"OAuth provider `{provider}`: {name} must be an https URL (plain http only on a "
        f"loopback address), not `{url[:200]}`."
    )


def _provider(name: str, data: Mapping[str, object]) -> Provider:
    def text(key: str) -> str:
        value = data.get(key, "")
        if not isinstance(value, str):
            raise OAuthConfigError(f"OAuth provider `{name}`: `{key}` must be a string.")
        return value.strip()

    def strings(key: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise OAuthConfigError(f"OAuth provider `{name}`: `{key}` must be a list of strings.")
        return tuple(v.strip() for v in value if v.strip())

    flow = text("flow") or "device"
    if flow not in ("device", "redirect"):
        raise OAuthConfigError(f"OAuth provider `{name}`: flow is `device` or `redirect`.")
    provider = Provider(
        name=name,
        hosts=tuple(h.lower().rstrip(".") for h in strings("hosts")),
        flow=flow,
        token_endpoint=text("token_endpoint"),
        client_id=text("client_id"),
        client_secret=text("client_secret"),
        scopes=strings("scopes"),
        device_authorization_endpoint=text("device_authorization_endpoint"),
        authorization_endpoint=text("authorization_endpoint"),
    )
    validate(provider)
    return provider


def validate(provider: Provider) -> None:
    name = provider.name
    if not provider.client_id:
        raise OAuthConfigError(f"OAuth provider `{name}` has no `client_id`.")
    if not provider.hosts:
        raise OAuthConfigError(f"OAuth provider `{name}` claims no `hosts`.")
    check_endpoint(name, "token_endpoint", provider.token_endpoint)
    if provider.flow == "device":
        check_endpoint(
            name, "device_authorization_endpoint", provider.device_authorization_endpoint
        )
    else:
        check_endpoint(name, "authorization_endpoint", provider.authorization_endpoint)


def presets(env: Mapping[str, str]) -> list[Provider]:
    out = []
    microsoft = env.get("MAILSYNC_OAUTH_MICROSOFT_CLIENT_ID", "").strip()
    if microsoft:
        tenant = env.get("MAILSYNC_OAUTH_MICROSOFT_TENANT", "").strip() or "common"
        base = f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0"
        out.append(
            Provider(
                name="microsoft",
                hosts=MICROSOFT_HOSTS,
                flow="device",
                token_endpoint=f"{base}/token",
                device_authorization_endpoint=f"{base}/devicecode",
                client_id=microsoft,
                scopes=MICROSOFT_SCOPES,
            )
        )
    google_id = env.get("MAILSYNC_OAUTH_GOOGLE_CLIENT_ID", "").strip()
    google_secret = env.get("MAILSYNC_OAUTH_GOOGLE_CLIENT_SECRET", "").strip()
    if google_id and google_secret:
        out.append(
            Provider(
                name="google",
                hosts=GOOGLE_HOSTS,
                flow="redirect",
                token_endpoint="https://oauth2.googleapis.com/token",  # noqa: S106 (a URL)
                authorization_endpoint="https://accounts.google.com/o/oauth2/v2/auth",
                client_id=google_id,
                client_secret=google_secret,
                scopes=GOOGLE_SCOPES,
                # A refresh token only comes with offline access, and again on consent.
                extra_authorize_params=(("access_type", "offline"), ("prompt", "consent")),
            )
        )
    elif google_id or google_secret:
        raise OAuthConfigError(
            "Set both MAILSYNC_OAUTH_GOOGLE_CLIENT_ID and MAILSYNC_OAUTH_GOOGLE_CLIENT_SECRET "
            "(Google's web clients need the secret)."
        )
    return out


def load_providers(env: Mapping[str, str]) -> dict[str, Provider]:
    """Presets enabled by their settings, then the TOML file's providers (which may
    replace a preset of the same name)."""
    providers = {p.name: p for p in presets(env)}
    path = env.get("MAILSYNC_OAUTH_PROVIDERS_FILE", "").strip()
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise OAuthConfigError(f"MAILSYNC_OAUTH_PROVIDERS_FILE cannot be read: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise OAuthConfigError(f"MAILSYNC_OAUTH_PROVIDERS_FILE is not TOML: {exc}") from exc
        tables = data.get("providers", {})
        if not isinstance(tables, dict):
            raise OAuthConfigError("MAILSYNC_OAUTH_PROVIDERS_FILE: [providers.NAME] tables.")
        for name, table in tables.items():
            if not isinstance(table, dict):
                raise OAuthConfigError(f"OAuth provider `{name}` must be a table.")
            providers[name] = _provider(name, table)
    return providers


def provider_for(providers: Mapping[str, Provider], host: str) -> Provider:
    for provider in providers.values():
        if provider.claims(host):
            return provider
    configured = ", ".join(f"`{n}`" for n in sorted(providers)) or "none"
    raise OAuthError(
        N_(
            "No OAuth provider claims the host `{host}` (configured providers: {configured}). "
            "The bot's operator adds one with MAILSYNC_OAUTH_PROVIDERS_FILE or a preset setting."
        ),
        host=host,
        configured=configured,
    )
