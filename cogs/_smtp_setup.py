"""/mail smtp (SPEC section 13): the outgoing server, checked with a real AUTH (the
account's password or OAuth2 token) under the same host and TLS rules as /mail add, before
anything is saved. Known providers get their host filled in (mail/smtp_hosts.py). What it
says is a Msg, rendered in the member's language."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from cogs._errors import UserError
from i18n import N_, Msg
from mail import compose, smtp, smtp_hosts
from mail.errors import MailError
from storage.models import Account
from watch.replies import smtp_server

if TYPE_CHECKING:
    from bot import MailsyncBot

NEED_HOST = N_(
    "Give the SMTP `host` of `{name}`: its server is not one Mailsync knows. Nothing was saved."
)
NEED_FROM = N_(
    "The user name `{user}` is not an address: give `from_address`, the address replies "
    "come from. Nothing was saved."
)
BAD_FROM = N_("{error} Nothing was saved.")
REFUSED = N_("The SMTP settings of `{name}` were not saved: {reason}")
SAVED = N_(
    "Outgoing server of `{name}`: `{host}:{port}` ({security}), from `{sender}`, Sent copy "
    "`{copy}`; the login was checked first. Turn replies on with `/mail edit replies:on`."
)
REMOVED = N_("Sending is off for `{name}`: its SMTP settings were removed.")


def _port_ok(port: int) -> int:
    if not 1 <= port <= 65535:
        raise UserError(N_("`port` must be 1 to 65535. Nothing was saved."))
    return port


async def smtp_changes(
    bot: MailsyncBot,
    account: Account,
    host: str | None,
    port: int | None,
    security: str | None,
    sent_copy: str | None,
    from_address: str | None,
) -> tuple[dict[str, Any], Msg]:
    """The checked settings (after a real login) and the sentence that says them."""
    known = smtp_hosts.for_mail_host(account.host)
    host = (host or "").strip().lower().rstrip(".") or (known.host if known else "")
    if not host:
        raise UserError(NEED_HOST, name=account.name)
    same = known if known and known.host == host else smtp_hosts.BY_SMTP_HOST.get(host)
    if security is None:
        security = (
            same.security
            if same and port in (None, same.port)
            else "starttls"
            if port == 587
            else "tls"
        )
    port = _port_ok(
        port
        or (same.port if same and same.security == security else 0)
        or smtp_hosts.DEFAULT_PORTS[security]
    )
    sender = (from_address or "").strip() or (account.username if "@" in account.username else "")
    if not sender:
        raise UserError(NEED_FROM, user=account.username)
    try:
        sender = compose.address(sender, "`from_address`")
    except compose.ComposeError as exc:
        raise UserError(BAD_FROM, error=exc) from exc
    changes: dict[str, Any] = {
        "smtp_host": host,
        "smtp_port": port,
        "smtp_security": security,
        "smtp_from": sender,
        "smtp_sent_copy": sent_copy or account.smtp_sent_copy or "auto",
    }
    trial = account.model_copy(update=changes)
    try:
        cfg = await bot.get_cog("Alerts").watcher.credentials(account)  # type: ignore[union-attr]
        server = smtp_server(trial, cfg)
        await asyncio.to_thread(smtp.check_login, server, bot.settings.allow_private_hosts)
    except MailError as exc:
        raise UserError(REFUSED, name=account.name, reason=exc) from exc
    said = Msg(
        SAVED,
        name=account.name,
        host=host,
        port=port,
        security=security,
        sender=sender,
        copy=changes["smtp_sent_copy"],  # the option's value, as typed
    )
    return changes, said


REMOVE_CHANGES = {"smtp_host": None, "smtp_port": None, "smtp_security": None, "replies": False}
