"""The status board's embed. A pure function of BoardData: no clock, no randomness, so
the same state renders the same embed and the board is edited only when it changed.
Times are Discord timestamps (`<t:…:R>`), which every reader's client shows live."""

from __future__ import annotations

import discord

from cogs._ui import (
    FIELD_MAX,
    NEW_MAIL_COLOUR,
    NOTICE_COLOUR,
    _resource_line,
    fit,
    mail_text,
    relative_time,
    truncate,
)
from mail.quota import QuotaResource, human_kib
from watch.board_data import BoardData, Health, Newest, Pop3Box

MAX_FOLDER_LINES = 15

_COLOURS = {
    Health.OK: discord.Colour.green(),
    Health.FAILING: NOTICE_COLOUR,
    Health.REAUTH: NOTICE_COLOUR,
    Health.PAUSED: discord.Colour.light_grey(),
}


def _health_lines(data: BoardData) -> list[str]:
    if data.health is Health.PAUSED:
        return ["\N{DOUBLE VERTICAL BAR} Paused: `/mail resume` starts watching again."]
    if data.health is Health.REAUTH:
        return ["\N{KEY} Stopped until someone signs in again with `/mail reauth`."]
    lines = []
    if data.health is Health.FAILING:
        polls = "poll" if data.failures == 1 else f"{data.failures} polls"
        error = mail_text(data.last_error or "unknown error", 300)
        lines.append(f"\N{WARNING SIGN} The last {polls} failed: {error}")
    else:
        lines.append("\N{WHITE HEAVY CHECK MARK} Working")
    if data.pushed:
        lines.append("New mail in INBOX is pushed (IMAP IDLE) and shows within seconds.")
    if data.next_check is not None:
        what = "Next try" if data.health is Health.FAILING else "Next check"
        lines.append(
            f"{what} {relative_time(data.next_check)} (every {data.interval_minutes} min)."
        )
    if data.alerts_held:
        lines.append(f"\N{WARNING SIGN} Alerts held: {mail_text(data.alerts_held, 300)}")
    return lines


def _folders_value(data: BoardData) -> str:
    lines = []
    for f in data.folders[:MAX_FOLDER_LINES]:
        name = f"**{mail_text(f.name, 100)}**"
        if f.messages is None:
            lines.append(f"{name} \N{EM DASH} counted at the next check")
            continue
        unseen = "" if f.unseen is None else f", {f.unseen:,} unseen"
        lines.append(f"{name} \N{EM DASH} {f.messages:,} messages{unseen}")
    if len(data.folders) > MAX_FOLDER_LINES:
        lines.append(f"\N{HORIZONTAL ELLIPSIS} and {len(data.folders) - MAX_FOLDER_LINES} more")
    return "\n".join(lines) or "none"


def _quota_value(data: BoardData) -> str:
    report = data.quota
    if report is None:
        return "Not read yet: read with the next mail, at least every 30 minutes."
    if not report.supported:
        return "The server does not offer the QUOTA extension (no limit reported)."
    lines = [_resource_line(r) for root in report.roots for r in root.resources]
    return "\n".join(lines[:10]) or "No quota applies (no limit)."


def _pop3_values(box: Pop3Box) -> tuple[str, str]:
    if box.count is None or box.size_bytes is None:
        server = "**INBOX** \N{EM DASH} counted at the next check"
    else:
        server = (
            f"**INBOX** \N{EM DASH} {box.count:,} messages, {human_kib(box.size_bytes // 1024)}"
        )
    mailbox = (
        f"{server}\n**Archive** \N{EM DASH} {box.archived:,} messages, "
        f"{human_kib(box.archived_bytes // 1024)} (kept by the bot)"
    )
    if not box.limit_mb:
        quota = "POP3 has no quota; declare the size with `/mail edit mailbox_limit_mb:`."
    elif box.size_bytes is None:
        quota = "Read at the next check."
    else:
        used = QuotaResource("STORAGE", box.size_bytes // 1024, box.limit_mb * 1024)
        quota = _resource_line(used) + " (declared limit)"
    return mailbox, quota


def _newest_value(newest: Newest | None, privacy: str) -> str:
    if newest is None:
        return "Nothing yet."
    when = f"<t:{int(newest.date.timestamp())}:f>" if newest.date else "undated"
    folder = mail_text(newest.folder, 100)
    if privacy == "minimal":  # as alerts: only the folder and the date
        return f"In {folder}, {when}"
    sender = mail_text(newest.sender, 100)
    subject = mail_text(newest.subject, 200)
    return f"**{sender}** \N{EM DASH} {subject}\n{folder} · {when}"


def board_embed(data: BoardData) -> discord.Embed:
    embed = discord.Embed(
        title=truncate(f"\N{OPEN MAILBOX WITH RAISED FLAG} {data.account_name}", 256),
        description="\n".join(_health_lines(data)),
        colour=_COLOURS.get(data.health, NEW_MAIL_COLOUR),
    )
    if data.pop3 is not None:
        mailbox, quota = _pop3_values(data.pop3)
        embed.add_field(name="Mailbox", value=truncate(mailbox, FIELD_MAX), inline=False)
        embed.add_field(name="Quota", value=truncate(quota, FIELD_MAX), inline=False)
    else:
        embed.add_field(
            name="Folders", value=truncate(_folders_value(data), FIELD_MAX), inline=False
        )
        embed.add_field(name="Quota", value=truncate(_quota_value(data), FIELD_MAX), inline=False)
    embed.add_field(
        name="Newest mail",
        value=truncate(_newest_value(data.newest, data.privacy), FIELD_MAX),
        inline=False,
    )
    embed.set_footer(text=truncate(f"Status board · {data.protocol.upper()}", 200))
    return fit(embed)
