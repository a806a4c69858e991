"""custom_ids of the mailbox-action buttons on alerts (SPEC §8), encoded and parsed back.

    mailsync:a1:<action>:<account id>:<folder key>:<UIDVALIDITY>:<UID>

`folder key` is the folder's FolderStateRow id (a folder name can be long and any
Unicode; the key is short). Nothing secret goes in: a custom_id is visible to anyone who
can read the message. Nothing in it is trusted either: a press is checked against the
store (the account exists in the interaction's guild, the folder key belongs to it, the
member may act) and the mailbox (UIDVALIDITY), so a forged id can at most name something
the presser could have pressed anyway.

The ids live in discord.py DynamicItems (`discord.ui.DynamicItem[Button]` with
`template=TEMPLATE`), which discord.py matches on every press, so buttons keep working
after a restart without any view stored in memory. TEMPLATE is strict (canonical
decimal numbers, known actions, nothing before or after); `parse` also checks ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mail.actions import Action

PREFIX = "mailsync:a1:"
MAX_LENGTH = 100  # Discord's limit for a custom_id
MAX_ID = 2**63 - 1  # database keys (BIGINT)
MAX_UID = 2**32 - 1  # IMAP UIDs and UIDVALIDITY are nz-number (RFC 3501): 1 .. 2^32-1

_NUMBER = r"[1-9][0-9]{0,18}"
_ACTIONS = "|".join(a.value for a in Action)
TEMPLATE = re.compile(
    re.escape(PREFIX)
    + rf"(?P<action>{_ACTIONS}):(?P<account>{_NUMBER}):(?P<folder>{_NUMBER})"
    + rf":(?P<uidvalidity>{_NUMBER}):(?P<uid>{_NUMBER})"
)


class InvalidActionId(ValueError):
    """Not a custom_id this bot made: malformed, out of range or too long."""


@dataclass(frozen=True)
class ActionId:
    action: Action
    account_id: int
    folder_key: int  # FolderStateRow.id of the message's folder
    uidvalidity: int
    uid: int

    def __post_init__(self) -> None:
        _check_ranges(self.account_id, self.folder_key, self.uidvalidity, self.uid)

    def encode(self) -> str:
        custom_id = (
            f"{PREFIX}{self.action.value}:{self.account_id}:{self.folder_key}"
            f":{self.uidvalidity}:{self.uid}"
        )
        assert len(custom_id) <= MAX_LENGTH  # noqa: S101 (bounded by the ranges)
        return custom_id


def parse(custom_id: str) -> ActionId:
    """The ActionId a custom_id encodes; InvalidActionId for anything else."""
    if not isinstance(custom_id, str) or len(custom_id) > MAX_LENGTH:
        raise InvalidActionId("not a mailbox-action button id")
    match = TEMPLATE.fullmatch(custom_id)
    if match is None:
        raise InvalidActionId("not a mailbox-action button id")
    return from_match(match)


def from_match(match: re.Match[str]) -> ActionId:
    """The ActionId of a TEMPLATE match (what DynamicItem.from_custom_id receives)."""
    try:
        return ActionId(
            action=Action(match["action"]),
            account_id=int(match["account"]),
            folder_key=int(match["folder"]),
            uidvalidity=int(match["uidvalidity"]),
            uid=int(match["uid"]),
        )
    except ValueError as exc:  # out of range, or a match of another pattern
        raise InvalidActionId(str(exc)) from exc


def _check_ranges(account_id: int, folder_key: int, uidvalidity: int, uid: int) -> None:
    for name, value, top in (
        ("account id", account_id, MAX_ID),
        ("folder key", folder_key, MAX_ID),
        ("UIDVALIDITY", uidvalidity, MAX_UID),
        ("UID", uid, MAX_UID),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
            raise InvalidActionId(f"{name} out of range: {value!r}")
