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
from i18n import ENGLISH, Explained, Translator
from mail.quota import QuotaResource
from watch.board_data import BoardData, Health, Newest, Pop3Box

MAX_FOLDER_LINES = 15

_COLOURS = {
    Health.OK: discord.Colour.green(),
    Health.FAILING: NOTICE_COLOUR,
    Health.REAUTH: NOTICE_COLOUR,
    Health.PAUSED: discord.Colour.light_grey(),
}


def _health_lines(data: BoardData, t: Translator) -> list[str]:
    if data.health is Health.PAUSED:
        paused = t("Paused: `/mail resume` starts watching again.")
        return [f"\N{DOUBLE VERTICAL BAR} {paused}"]
    if data.health is Health.REAUTH:
        return [f"\N{KEY} {t('Stopped until someone signs in again with `/mail reauth`.')}"]
    lines = []
    if data.health is Health.FAILING:
        raw = data.last_error
        shown = raw.render(t) if isinstance(raw, Explained) else raw or t("unknown error")
        error = mail_text(shown, 300)
        failed = t.ngettext(
            "The last poll failed: {error}",
            "The last {count} polls failed: {error}",
            data.failures,
            error=error,
        )
        lines.append(f"\N{WARNING SIGN} {failed}")
    else:
        lines.append(f"\N{WHITE HEAVY CHECK MARK} {t('Working')}")
    if data.pushed:
        lines.append(t("New mail in INBOX is pushed (IMAP IDLE) and shows within seconds."))
    if data.next_check is not None:
        when, every = relative_time(data.next_check, t), data.interval_minutes
        if data.health is Health.FAILING:
            lines.append(t("Next try {when} (every {minutes} min).", when=when, minutes=every))
        else:
            lines.append(t("Next check {when} (every {minutes} min).", when=when, minutes=every))
    if data.alerts_held:
        held = t("Alerts held: {reason}", reason=mail_text(data.alerts_held, 300))
        lines.append(f"\N{WARNING SIGN} {held}")
    return lines


def _folders_value(data: BoardData, t: Translator) -> str:
    lines = []
    for f in data.folders[:MAX_FOLDER_LINES]:
        name = f"**{mail_text(f.name, 100)}**"
        if f.messages is None:
            lines.append(f"{name} \N{EM DASH} {t('counted at the next check')}")
            continue
        counts = t.ngettext("{count} message", "{count} messages", f.messages)
        if f.unseen is not None:
            counts += ", " + t("{count} unseen", count=t.number(f.unseen))
        lines.append(f"{name} \N{EM DASH} {counts}")
    if len(data.folders) > MAX_FOLDER_LINES:
        more = len(data.folders) - MAX_FOLDER_LINES
        lines.append(
            f"\N{HORIZONTAL ELLIPSIS} {t.ngettext('and {count} more', 'and {count} more', more)}"
        )
    return "\n".join(lines) or t("none")


def _quota_value(data: BoardData, t: Translator) -> str:
    report = data.quota
    if report is None:
        return t("Not read yet: read with the next mail, at least every 30 minutes.")
    if not report.supported:
        return t("The server does not offer the QUOTA extension (no limit reported).")
    lines = [_resource_line(r, t) for root in report.roots for r in root.resources]
    return "\n".join(lines[:10]) or t("No quota applies (no limit).")


def _pop3_values(box: Pop3Box, t: Translator) -> tuple[str, str]:
    if box.count is None or box.size_bytes is None:
        server = f"**INBOX** \N{EM DASH} {t('counted at the next check')}"
    else:
        messages = t.ngettext("{count} message", "{count} messages", box.count)
        server = f"**INBOX** \N{EM DASH} {messages}, {t.size_kib(box.size_bytes // 1024)}"
    archived = t.ngettext(
        "{count} message, {size} (kept by the bot)",
        "{count} messages, {size} (kept by the bot)",
        box.archived,
        size=t.size_kib(box.archived_bytes // 1024),
    )
    mailbox = f"{server}\n**{t('Archive')}** \N{EM DASH} {archived}"
    if not box.limit_mb:
        quota = t("POP3 has no quota; declare the size with `/mail edit mailbox_limit_mb:`.")
    elif box.size_bytes is None:
        quota = t("Read at the next check.")
    else:
        used = QuotaResource("STORAGE", box.size_bytes // 1024, box.limit_mb * 1024)
        quota = _resource_line(used, t) + " " + t("(declared limit)")
    return mailbox, quota


def _newest_value(newest: Newest | None, privacy: str, t: Translator) -> str:
    if newest is None:
        return t("Nothing yet.")
    when = f"<t:{int(newest.date.timestamp())}:f>" if newest.date else t("undated")
    folder = mail_text(newest.folder, 100)
    if privacy == "minimal":  # as alerts: only the folder and the date
        return t("In {folder}, {when}", folder=folder, when=when)
    sender = mail_text(newest.sender, 100)
    subject = mail_text(newest.subject, 200)
    return f"**{sender}** \N{EM DASH} {subject}\n{folder} · {when}"


def board_embed(data: BoardData, t: Translator = ENGLISH) -> discord.Embed:
    embed = discord.Embed(
        title=truncate(f"\N{OPEN MAILBOX WITH RAISED FLAG} {data.account_name}", 256),
        description="\n".join(_health_lines(data, t)),
        colour=_COLOURS.get(data.health, NEW_MAIL_COLOUR),
    )
    if data.pop3 is not None:
        mailbox, quota = _pop3_values(data.pop3, t)
        embed.add_field(name=t("Mailbox"), value=truncate(mailbox, FIELD_MAX), inline=False)
        embed.add_field(name=t("Quota"), value=truncate(quota, FIELD_MAX), inline=False)
    else:
        folders = truncate(_folders_value(data, t), FIELD_MAX)
        embed.add_field(name=t("Folders"), value=folders, inline=False)
        quota = truncate(_quota_value(data, t), FIELD_MAX)
        embed.add_field(name=t("Quota"), value=quota, inline=False)
    embed.add_field(
        name=t("Newest mail"),
        value=truncate(_newest_value(data.newest, data.privacy, t), FIELD_MAX),
        inline=False,
    )
    footer = t("Status board · {protocol}", protocol=data.protocol.upper())
    embed.set_footer(text=truncate(footer, 200))
    return fit(embed)
