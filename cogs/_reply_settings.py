"""/mail edit's reply options (SPEC section 13): replies on|off, reply_role, signature."""

from __future__ import annotations

from typing import Any

import discord

from cogs._errors import UserError
from mail import compose
from storage.models import Account

NEEDS_SMTP = (
    "`{name}` has no outgoing server yet: set one with `/mail smtp` first. Nothing was changed."
)
SIGNATURE_LONG = f"`signature` is at most {compose.SIGNATURE_MAX} characters. Nothing was changed."
REPLIES_SAID = {
    True: "single new-mail alerts get Reply and Reply all buttons (`replies: on`)",
    False: "no Reply buttons (`replies: off`)",
}


def reply_changes(
    account: Account,
    replies: str | None,
    reply_role: discord.Role | None,
    signature: str | None,
    changes: dict[str, Any],
    said: list[str],
) -> None:
    if replies is not None:
        on = replies == "on"
        if on and not account.smtp_host:
            raise UserError(NEEDS_SMTP.format(name=account.name))
        changes["replies"] = on
        said.append(REPLIES_SAID[on])
    if reply_role is not None:
        if reply_role.is_default():
            changes["reply_role_id"] = None
            said.append("only members with Manage Server may send replies")
        else:
            changes["reply_role_id"] = reply_role.id
            said.append(f"members with <@&{reply_role.id}> may send replies too")
    if signature is not None:
        text = signature.strip()
        if len(text) > compose.SIGNATURE_MAX:
            raise UserError(SIGNATURE_LONG)
        # A slash option is one line; "\n" typed literally makes a line break.
        text = text.replace("\\n", "\n")
        changes["signature"] = None if text in ("", "-") else text
        said.append("no signature" if changes["signature"] is None else "a signature on replies")
