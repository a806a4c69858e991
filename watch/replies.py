"""The engine step that sends outgoing mail (SPEC section 13): one loop takes due rows,
submits each over SMTP in a thread, and moves its state with the post that reports it.
A temporary failure retries with backoff for up to an hour; a permanent one is reported;
a row a dead process left between DATA and its commit becomes `unknown` with one notice
and is never sent again without a member's Resend. The Sent copy comes after `sent` and
its failure is only reported."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Engine

from i18n import ENGLISH, N_, Msg, Translator
from mail import sent_copy, smtp, smtp_hosts
from mail.errors import AuthError, MailError
from mail.types import Protocol as MailProtocol
from mail.types import ServerConfig
from storage import outgoing, repo
from storage.models import Account, OutgoingMail, utcnow
from watch import reply_posts

log = logging.getLogger(__name__)

RETRY_BASE = timedelta(seconds=30)  # then doubled, at most RETRY_MAX apart
RETRY_MAX = timedelta(minutes=10)
GIVE_UP = timedelta(hours=1)
IDLE_WAIT = 60.0  # seconds between looks when nothing is due (a poke wakes it sooner)


class Mailboxes(Protocol):
    """What the watcher offers this step (watch/engine.py's Watcher)."""

    async def credentials(self, account: Account) -> ServerConfig: ...

    async def on_session(self, account: Account, work: Callable) -> object: ...


class _Abandoned(Exception):
    """The row left `queued` meanwhile (discarded, or another process took it)."""


def smtp_server(account: Account, cfg: ServerConfig) -> smtp.SmtpServer:
    return smtp.SmtpServer(
        host=account.smtp_host or "",
        port=account.smtp_port or smtp_hosts.DEFAULT_PORTS.get(account.smtp_security or "", 465),
        security=account.smtp_security or "tls",
        username=cfg.username,
        password=cfg.password,
        oauth_token=cfg.oauth_token,
        helo=(account.smtp_from or "").rpartition("@")[2] or "localhost",
    )


def wants_copy(account: Account) -> bool:
    if account.smtp_sent_copy == "off" or account.protocol != MailProtocol.IMAP:
        return False
    return account.smtp_sent_copy == "on" or not smtp_hosts.files_sent_itself(
        account.smtp_host or ""
    )


class ReplySender:
    def __init__(
        self,
        engine: Engine,
        mailboxes: Mailboxes,
        allow_private: bool,
        on_queued: Callable[[], None],
        on_sent: Callable[[OutgoingMail], Awaitable[None]] | None = None,
        language: Callable[[int], Translator] = lambda _guild_id: ENGLISH,
    ) -> None:
        self.engine = engine
        self.mailboxes = mailboxes
        self.allow_private = allow_private
        self._on_queued = on_queued  # wakes the outbox sender for the posts
        self._on_sent = on_sent
        # The guild's language when a notice is queued (the outbox keeps it rendered).
        self._language = language
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reply-sender")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def poke(self) -> None:
        self._wake.set()

    async def recover(self) -> int:
        """At start: rows left `sending` by a dead process become `unknown`, one notice each."""
        left = await asyncio.to_thread(outgoing.interrupted, self.engine)
        for row in left:
            account = await asyncio.to_thread(repo.get_account, self.engine, row.account_id)
            if account is None:
                continue
            why = "the process stopped between DATA and its commit"  # stored, for logs
            notice = reply_posts.unknown(account, row, self._language(account.guild_id))
            if await asyncio.to_thread(
                outgoing.mark_unknown, self.engine, row.id, why, account, notice
            ):
                log.warning("outgoing %s: outcome unknown after a restart; not resent", row.id)
                self._on_queued()
        return len(left)

    async def _run(self) -> None:
        await self.recover()
        while True:
            try:
                await self.send_due()
            except Exception:  # the store away a moment: keep the loop alive
                log.exception("sending outgoing mail failed; trying again soon")
            wait = IDLE_WAIT
            next_at = await asyncio.to_thread(outgoing.next_due_at, self.engine)
            if next_at is not None:
                wait = max(0.05, min(wait, (next_at - utcnow()).total_seconds()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def send_due(self) -> None:
        for row in await asyncio.to_thread(outgoing.due, self.engine, utcnow()):
            await self.attempt(row)

    async def attempt(self, row: OutgoingMail) -> None:
        account = await asyncio.to_thread(repo.get_account, self.engine, row.account_id)
        if account is None or row.id is None:
            return
        try:
            if not account.smtp_host:
                off = Msg(N_("Sending is turned off for this account (`/mail smtp`)."))
                raise smtp.SendError(off, temporary=False)
            cfg = await self.mailboxes.credentials(account)
            server = smtp_server(account, cfg)

            def before_data() -> None:
                if not outgoing.mark_sending(self.engine, row.id):  # type: ignore[arg-type]
                    raise _Abandoned

            refused = await asyncio.to_thread(
                smtp.send,
                server,
                self.allow_private,
                row.sender,
                row.recipients.split("\n"),
                row.raw,
                before_data,
            )
        except _Abandoned:
            return
        except smtp.UnknownOutcomeError as exc:
            notice = reply_posts.unknown(account, row, self._language(account.guild_id))
            await asyncio.to_thread(
                outgoing.mark_unknown, self.engine, row.id, str(exc), account, notice
            )
            self._on_queued()
            return
        except MailError as exc:
            await self._refused(account, row, exc)
            return
        posted = reply_posts.sent(account, row, refused, self._language(account.guild_id))
        await asyncio.to_thread(outgoing.mark_sent, self.engine, row.id, account, [posted])
        log.info("outgoing %s: sent for account %s", row.id, account.id)
        self._on_queued()
        if self._on_sent is not None:
            try:
                await self._on_sent(row)
            except Exception as exc:  # the alert's "Replied by" line is cosmetic
                log.warning("outgoing %s: the alert replied to was not edited (%r)", row.id, exc)
        await self._copy(account, row)

    async def _refused(self, account: Account, row: OutgoingMail, exc: MailError) -> None:
        temporary = not isinstance(exc, AuthError) and getattr(exc, "temporary", True)
        age = utcnow() - _aware(row.created_at)
        if temporary and age < GIVE_UP:
            delay = min(RETRY_MAX, RETRY_BASE * (2**row.attempts))
            log.info("outgoing %s: temporary failure (%s); again in %s", row.id, exc.kind, delay)
            await asyncio.to_thread(outgoing.mark_retry, self.engine, row.id, str(exc), delay)
            return
        reason = (
            exc if not temporary else Msg(N_("{reason} (still failing after an hour)"), reason=exc)
        )
        log.warning("outgoing %s: not sent (%s)", row.id, exc.kind)
        notice = reply_posts.failed(account, row, reason, self._language(account.guild_id))
        await asyncio.to_thread(
            outgoing.mark_failed, self.engine, row.id, str(reason), account, notice
        )
        self._on_queued()

    async def _copy(self, account: Account, row: OutgoingMail) -> None:
        """The Sent copy, once; a failure is reported and never causes a resend."""
        if not wants_copy(account):
            await asyncio.to_thread(
                outgoing.set_sent_copy, self.engine, row.id, "skipped", [], account
            )
            return
        try:
            await self.mailboxes.on_session(
                account, functools.partial(sent_copy.append, message=row.raw)
            )
        except MailError as exc:
            log.warning("outgoing %s: the Sent copy failed (%s)", row.id, exc.kind)
            t = self._language(account.guild_id)
            notice = reply_posts.copy_failed(account, row, exc, t)
            await asyncio.to_thread(
                outgoing.set_sent_copy, self.engine, row.id, "failed", [notice], account
            )
            self._on_queued()
            return
        await asyncio.to_thread(outgoing.set_sent_copy, self.engine, row.id, "done", [], account)


def _aware(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)
