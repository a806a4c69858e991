"""What the double remembers: recorded REST requests and interactions, and their handle."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .double import DiscordDouble


@dataclass
class RecordedRequest:
    """One REST request the double received, with the answer it gave."""

    index: int
    method: str
    path: str  # relative to /api/v10, e.g. "/channels/123/messages"
    query: dict[str, str]
    json: Any  # the JSON body, or multipart ``payload_json`` parsed; None when absent
    files: list[dict[str, Any]]  # multipart files: {"field", "filename", "content_type", "data"}
    headers: dict[str, str]
    timestamp: float  # time.time()
    monotonic: float  # time.monotonic()
    status: int = 0
    response: Any = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


@dataclass
class _Interaction:
    id: int
    token: str
    type: int
    payload: dict[str, Any]
    guild_id: int | None
    channel_id: int | None
    responded: bool = False
    callback_type: int | None = None
    original: dict[str, Any] | None = None
    modal: dict[str, Any] | None = None
    replies: list[dict[str, Any]] = field(default_factory=list)


class InteractionHandle:
    """What ``slash_command``/``autocomplete``/``submit_modal``/``click_button`` return."""

    def __init__(self, double: DiscordDouble, record: _Interaction) -> None:
        self._double = double
        self._record = record

    def __repr__(self) -> str:
        return f"<InteractionHandle id={self.id} type={self.type} replies={len(self.replies)}>"

    @property
    def id(self) -> int:
        return self._record.id

    @property
    def token(self) -> str:
        return self._record.token

    @property
    def type(self) -> int:
        return self._record.type

    @property
    def payload(self) -> dict[str, Any]:
        """The INTERACTION_CREATE ``d`` sent to the bot."""
        return self._record.payload

    @property
    def replies(self) -> list[dict[str, Any]]:
        """Successful callbacks, followups, edits and deletes for this interaction, in order."""
        return list(self._record.replies)

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot answered with (callback type 9), if any."""
        return self._record.modal

    async def wait_for_reply(
        self, *, kind: str | None = None, after: int = 0, timeout: float = 10.0
    ) -> dict[str, Any]:
        return await self._double.wait_for_reply(
            self.token, kind=kind, after=after, timeout=timeout
        )

    async def wait_for_modal(self, timeout: float = 10.0) -> dict[str, Any]:
        reply = await self.wait_for_reply(kind="callback", timeout=timeout)
        if reply["type"] != 9 or self.modal is None:
            raise AssertionError(
                f"the bot answered with callback type {reply['type']}, not a modal"
            )
        return self.modal
