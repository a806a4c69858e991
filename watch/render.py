"""What the engine asks the UI to render into an outbox payload. The engine decides that a
notice is due; the Discord side decides how it looks (cogs/_notices.EmbedRenderer), in the
language of the guild (`guild_id`) at the time it renders: alerts when queued, boards and
digests when they are due. The outbox keeps the rendered payload, so a post sent after a
Discord outage reads as it would have when it was due."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from i18n import Msg, Translator
from mail.errors import MailError
from mail.quota import QuotaResource
from mail.types import NewMessage
from watch.board_data import BoardData

Payload = dict[str, Any]


class Renderer(Protocol):
    digest_threshold: int  # more new messages than this in one poll: one digest instead
    digest_lines: int

    def new_mail(
        self,
        account_name: str,
        message: NewMessage,
        privacy: str = "snippet",
        *,
        guild_id: int | None = None,
    ) -> Payload: ...

    def digest(
        self,
        account_name: str,
        messages: Sequence[NewMessage],
        total: int | None = None,
        privacy: str = "snippet",
        heading: str | None = None,  # a msgid: a scheduled digest's "Daily digest"
        *,
        guild_id: int | None = None,
    ) -> Payload: ...

    def folder_reset(
        self, account_name: str, folder: str, *, guild_id: int | None = None
    ) -> Payload: ...

    def trouble(
        self,
        account_name: str,
        failures: int,
        error: MailError | str,  # a MailError is rendered in the guild's language
        kind: str,
        retry_at: datetime | None,
        *,
        guild_id: int | None = None,
    ) -> Payload: ...

    def recovered(
        self, account_name: str, failures: int, *, guild_id: int | None = None
    ) -> Payload: ...

    def paused(
        self, account_name: str, reason: Msg | str, *, guild_id: int | None = None
    ) -> Payload:
        """The bot paused the account itself; `reason` says why and how to resume."""
        ...

    def quota_warning(
        self,
        account_name: str,
        resource: QuotaResource,
        threshold: int,
        days_left: float | None,
        *,
        guild_id: int | None = None,
    ) -> Payload: ...

    def translator(self, guild_id: int | None) -> Translator:
        """The language of the guild's channel posts now (for texts watch/ writes itself,
        such as thread names)."""
        ...

    def board(self, data: BoardData, *, guild_id: int | None = None) -> Payload:
        """A status board; equal data must give an equal payload (its hash decides edits)."""
        ...
