"""/mail edit's reply options (SPEC section 13): replies on|off, reply_role, signature, and
the sentences that say so, as msgids the reply renders in the member's language."""

from __future__ import annotations

from typing import Any

import discord

from cogs._errors import UserError
from i18n import N_, Msg
from mail import compose
from storage.models import Account

NEEDS_SMTP = N_(
    "`{name}` has no outgoing server yet: set one with `/mail smtp` first. Nothing was changed."
)
SIGNATURE_LONG = N_("`signature` is at most {max} characters. Nothing was changed.")
REPLIES_SAID = {
    True: N_("single new-mail alerts get Reply and Reply all buttons (`replies: on`)"),
    False: N_("no Reply buttons (`replies: off`)"),
}


def reply_changes(
    account: Account,
    replies: str | None,
    reply_role: discord.Role | None,
    signature: str | None,
    changes: dict[str, Any],
    said: list[Msg],
) -> None:
    if replies is not None:
        on = replies == "on"
        if on and not account.smtp_host:
            raise UserError(NEEDS_SMTP, name=account.name)
        changes["replies"] = on
        said.append(Msg(REPLIES_SAID[on]))
    if reply_role is not None:
        if reply_role.is_default():
            changes["reply_role_id"] = None
            said.append(Msg(N_("only members with Manage Server may send replies")))
        else:
            changes["reply_role_id"] = reply_role.id
            said.append(
                Msg(N_("members with {role} may send replies too"), role=f"<@&{reply_role.id}>")
            )
    if signature is not None:
        text = signature.strip()
        if len(text) > compose.SIGNATURE_MAX:
            raise UserError(SIGNATURE_LONG, max=compose.SIGNATURE_MAX)
        # A slash option is one line; "\n" typed literally makes a line break.
        text = text.replace("\\n", "\n")
        changes["signature"] = None if text in ("", "-") else text
        none = changes["signature"] is None
        said.append(Msg(N_("no signature") if none else N_("a signature on replies")))
