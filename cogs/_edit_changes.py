"""What /mail edit changes besides the plain settings (delivery, buttons) and the
sentences that say so, as msgids the reply renders in the member's language."""

from __future__ import annotations

from typing import Any

import discord

from cogs._errors import UserError
from i18n import N_, Msg
from mail.types import Protocol
from storage.models import Account
from watch.digest_clock import parse_hhmm


def delivery_changes(
    account: Account, delivery: str | None, digest_time: str | None
) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if delivery is not None:
        changes["delivery"] = delivery
    if digest_time is not None:
        if (delivery or account.delivery) != "daily":
            raise UserError(N_("`digest_time` is for daily digests: add `delivery: daily`."))
        try:
            changes["digest_time"] = f"{parse_hhmm(digest_time):%H:%M}"
        except ValueError as exc:
            raise UserError(N_("{exc}."), exc=exc) from exc
    return changes


_ACTIONS_SAID = {
    "off": N_("no buttons on new alerts (actions `off`)"),
    "read": N_("new alerts get Mark read / Mark unread buttons (actions `read`)"),
    "triage": N_(
        "new alerts get Mark read/unread, Flag/Unflag, Archive and Trash buttons (actions `triage`)"
    ),
}


def actions_changes(
    account: Account,
    actions: str | None,
    role: discord.Role | None,
    changes: dict[str, Any],
    said: list[Msg],
) -> None:
    """SPEC section 8: buttons change the mailbox, which POP3 cannot do."""
    if actions is None and role is None:
        return
    if account.protocol == Protocol.POP3:
        raise UserError(
            N_(
                "`actions` and `actions_role` are for IMAP accounts: POP3 can "
                "only download mail, it cannot mark it read, flag it or move it "
                "on the server."
            )
        )
    if actions is not None:
        changes["actions"] = actions
        said.append(Msg(_ACTIONS_SAID[actions]))
    if role is not None:
        if role.is_default():
            changes["actions_role_id"] = None
            said.append(Msg(N_("only members with Manage Server may press alert buttons")))
        else:
            changes["actions_role_id"] = role.id
            said.append(
                Msg(N_("members with {role} may press alert buttons too"), role=f"<@&{role.id}>")
            )


THREADS_SAID = {
    True: N_("a reply goes into its conversation's thread (`threads: on`)"),
    False: N_("replies are posted like any mail (`threads: off`)"),
}

PRIVACY_SAID = {
    "minimal": N_("only the folder and the date (privacy `minimal`)"),
    "headers": N_("sender, subject, date, folder and the attachment count (privacy `headers`)"),
    "snippet": N_("the headers and a snippet of the text (privacy `snippet`)"),
    "full": N_("the whole text and the attachment names (privacy `full`)"),
}
