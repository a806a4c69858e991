"""What the engine asks the UI to render into an outbox payload. The engine decides that a
notice is due; the Discord side decides how it looks (cogs/_ui.EmbedRenderer)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from mail.quota import QuotaResource
from mail.types import NewMessage
from watch.board_data import BoardData

Payload = dict[str, Any]


class Renderer(Protocol):
    digest_threshold: int  # more new messages than this in one poll: one digest instead
    digest_lines: int

    def new_mail(
        self, account_name: str, message: NewMessage, privacy: str = "snippet"
    ) -> Payload: ...

    def digest(
        self,
        account_name: str,
        messages: Sequence[NewMessage],
        total: int | None = None,
        privacy: str = "snippet",
        heading: str | None = None,  # a scheduled digest: "Daily digest" before the count
    ) -> Payload: ...

    def folder_reset(self, account_name: str, folder: str) -> Payload: ...

    def trouble(
        self, account_name: str, failures: int, error: str, kind: str, retry_at: datetime | None
    ) -> Payload: ...

    def recovered(self, account_name: str, failures: int) -> Payload: ...

    def paused(self, account_name: str, reason: str) -> Payload:
        """The bot paused the account itself; `reason` says why and how to resume."""
        ...

    def quota_warning(
        self, account_name: str, resource: QuotaResource, threshold: int, days_left: float | None
    ) -> Payload: ...

    def board(self, data: BoardData) -> Payload:
        """A status board; equal data must give an equal payload (its hash decides edits)."""
        ...
