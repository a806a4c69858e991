"""Embeds and text shown in Discord. Everything that comes from mail passes through
`mail_text`, which escapes markdown and mentions and respects Discord's limits."""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime

import discord

from i18n import ENGLISH, N_, Translator
from mail.quota import QuotaReport, QuotaResource, bar
from mail.types import FolderStatus, NewMessage

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELD_MAX = 1024
EMBED_TOTAL_MAX = 6000
DIGEST_THRESHOLD = 5
DIGEST_LINES = 20
SNIPPET_CHARS = 300

NEW_MAIL_COLOUR = discord.Colour.blurple()
NOTICE_COLOUR = discord.Colour.orange()

# Discord treats a backslash before any ASCII punctuation as an escape, so escaping every
# character that starts markdown, masked links, quotes, headings or custom emoji is safe.
_MARKDOWN_CHARS = re.compile(r"([\\*_~|`>#\-\[\]()<:!.])")


def truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if cut.endswith("\\") and not cut.endswith("\\\\"):
        cut = cut[:-1]
    return cut + "\N{HORIZONTAL ELLIPSIS}"


def mail_text(text: str, limit: int) -> str:
    """Text from a message, made inert: no markdown, no links, no mentions."""
    raw = text[: limit * 2]
    escaped = discord.utils.escape_mentions(_MARKDOWN_CHARS.sub(r"\\\1", raw))
    return truncate(escaped, limit)


def _timestamp(date: datetime | None, t: Translator = ENGLISH) -> str:
    return f"<t:{int(date.timestamp())}:f>" if date else t("unknown")


def fit(embed: discord.Embed) -> discord.Embed:
    """Trim the description until the whole embed is within Discord's 6,000 characters."""
    overflow = len(embed) - EMBED_TOTAL_MAX
    if overflow > 0 and embed.description:
        embed.description = truncate(embed.description, max(1, len(embed.description) - overflow))
    return embed


PRIVACY_LEVELS = ("minimal", "headers", "snippet", "full")


def new_mail_embed(
    account_name: str, message: NewMessage, privacy: str = "snippet", t: Translator = ENGLISH
) -> discord.Embed:
    """One alert, showing as much of the message as the account's privacy level allows:
    minimal (folder and date), headers (sender, subject, date, folder, attachment count),
    snippet (and ~300 characters of text, attachment names) or full (the whole text)."""
    folder = mail_text(message.folder, FIELD_MAX)
    if privacy == "minimal":
        embed = discord.Embed(
            title=truncate(t("New mail in {folder}", folder=folder), TITLE_MAX),
            colour=NEW_MAIL_COLOUR,
            timestamp=message.date,
        )
        embed.add_field(name=t("Date"), value=_timestamp(message.date, t), inline=True)
        embed.set_footer(text=truncate(account_name, 200))
        return fit(embed)
    if privacy == "headers":
        description = None
    elif privacy == "full":
        description = mail_text(message.text or message.snippet, DESCRIPTION_MAX - 96) or None
    else:
        description = mail_text(message.snippet, SNIPPET_CHARS * 2) or None
    embed = discord.Embed(
        title=mail_text(message.subject, TITLE_MAX),
        description=description,
        colour=NEW_MAIL_COLOUR,
        timestamp=message.date,
    )
    embed.add_field(name=t("From"), value=mail_text(message.sender, FIELD_MAX), inline=True)
    embed.add_field(name=t("Folder"), value=folder, inline=True)
    embed.add_field(name=t("Date"), value=_timestamp(message.date, t), inline=True)
    if message.attachments and privacy == "headers":
        count = len(message.attachments)
        embed.add_field(name=t("Attachments"), value=t.number(count), inline=False)
    elif message.attachments:
        names = ", ".join(message.attachments)
        embed.add_field(name=t("Attachments"), value=mail_text(names, FIELD_MAX), inline=False)
    embed.set_footer(text=truncate(account_name, 200))
    return fit(embed)


def digest_embed(
    account_name: str,
    messages: Sequence[NewMessage],
    total: int | None = None,
    privacy: str = "snippet",
    heading: str | None = None,
    t: Translator = ENGLISH,
) -> discord.Embed:
    """The count and the newest lines; `total` when `messages` holds only the newest. At
    privacy "minimal" only the count per folder, no sender or subject. `heading` names a
    scheduled digest ("Daily digest: 12 new messages")."""
    count = len(messages) if total is None else total
    if privacy == "minimal":
        folders: dict[str, int] = {}
        for m in messages:
            folders[m.folder] = folders.get(m.folder, 0) + 1
        lines = [f"{mail_text(f, 100)}: {t.number(n)}" for f, n in sorted(folders.items())]
        if total is not None and total > len(messages):
            lines.append(_older(total - len(messages), t))
    else:
        newest = sorted(messages, key=lambda m: (m.date is not None, m.date or 0, m.uid))
        newest = list(reversed(newest))[:DIGEST_LINES]
        lines = [
            f"**{mail_text(m.sender, 80)}** \N{EM DASH} {mail_text(m.subject, 120)}" for m in newest
        ]
        more = count - len(newest)
        if more > 0:
            lines.append(_older(more, t))
    counted = t.ngettext("{count} new message", "{count} new messages", count)
    title = t("{heading}: {counted}", heading=t(heading), counted=counted) if heading else counted
    embed = discord.Embed(
        title=truncate(title, TITLE_MAX),
        description=truncate("\n".join(lines), DESCRIPTION_MAX),
        colour=NEW_MAIL_COLOUR,
    )
    embed.set_footer(text=truncate(account_name, 200))
    return fit(embed)


def _older(count: int, t: Translator) -> str:
    older = t.ngettext("and {count} older", "and {count} older", count)
    return f"\N{HORIZONTAL ELLIPSIS} {older}"


def channel_ref(channel_id: int) -> str:
    return f"<#{channel_id}>"


def role_ref(role_id: int) -> str:
    return f"<@&{role_id}>"  # in an embed or with mentions locked down: shown, never pinged


def relative_time(when: datetime | None, t: Translator = ENGLISH) -> str:
    return f"<t:{int(when.timestamp())}:R>" if when else t("never")


def _resource_line(resource: QuotaResource, t: Translator = ENGLISH) -> str:
    percent = resource.percent
    if resource.name == "STORAGE":
        amounts = t(
            "{used} of {limit}", used=t.size_kib(resource.usage), limit=t.size_kib(resource.limit)
        )
    else:
        amounts = t(
            "{used} of {limit}", used=t.number(resource.usage), limit=t.number(resource.limit)
        )
    shown = t("no limit") if percent is None else f"{t.number(percent, 1)} %"
    if resource.name == "MESSAGE":
        label = t("messages")
    elif resource.name == "STORAGE":
        label = t("storage")
    else:
        label = resource.name.lower()
    return f"`{bar(percent)}` {shown} · {label}: {amounts}"


def quota_report_embed(
    account_name: str, report: QuotaReport, t: Translator = ENGLISH
) -> discord.Embed:
    embed = discord.Embed(
        title=t("Quota of {account}", account=truncate(account_name, 200)), colour=NEW_MAIL_COLOUR
    )
    if not report.supported:
        embed.description = (
            t(report.note)
            if report.note
            else t("The server does not offer the QUOTA extension, so it reports no limit.")
        )
    elif not report.roots:
        embed.description = t("No quota applies to this mailbox (no limit).")
    for root in report.roots[:25]:
        value = "\n".join(_resource_line(r, t) for r in root.resources) or t("no resources")
        embed.add_field(
            name=truncate(root.name or t("(default)"), 256), value=truncate(value, 1024)
        )
    return fit(embed)


def folder_pages(
    statuses: Sequence[FolderStatus], per_page: int = 40, t: Translator = ENGLISH
) -> list[str]:
    """Lines of `name — messages, unseen, size`, cut into embed-sized pages."""
    lines = []
    for f in statuses:
        parts = [t.ngettext("{count} message", "{count} messages", f.messages)]
        if f.unseen is not None:
            parts.append(t("{count} unseen", count=t.number(f.unseen)))
        if f.size is not None:
            parts.append(t.size_kib(f.size // 1024))
        lines.append(f"**{mail_text(f.name, 100)}** \N{EM DASH} {', '.join(parts)}")
    pages = []
    for start in range(0, len(lines), per_page):
        pages.append(truncate("\n".join(lines[start : start + per_page]), DESCRIPTION_MAX))
    return pages or [t("No folders.")]


def pop3_folders_text(count: int, size_bytes: int, t: Translator = ENGLISH) -> str:
    messages = t.ngettext("{count} message", "{count} messages", count)
    return f"**INBOX** \N{EM DASH} {messages}, {t.size_kib(size_bytes // 1024)}\n\n" + t(
        "POP3 sees only the inbox: folders made in webmail or over IMAP are invisible to it."
    )


def archive_embed(
    account_name: str,
    query: str | None,
    rows: Sequence,
    page: int,
    pages: int,
    total: int,
    t: Translator = ENGLISH,
) -> discord.Embed:
    title = t("Archive of {account}", account=truncate(account_name, 150))
    if query:
        title += f": \N{LEFT-POINTING DOUBLE ANGLE QUOTATION MARK}{truncate(query, 60)}"
        title += "\N{RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK}"
    lines = []
    for row in rows:
        when = row.sent_at or row.downloaded_at
        stamp = f"<t:{int(when.timestamp())}:d>" if when else t("undated")
        lines.append(
            f"{stamp} **{mail_text(row.sender, 80)}** \N{EM DASH} {mail_text(row.subject, 150)}"
        )
    embed = discord.Embed(
        title=truncate(title, TITLE_MAX),
        description="\n".join(lines) or t("No archived message matches."),
        colour=NEW_MAIL_COLOUR,
    )
    matches = t.ngettext("{count} match", "{count} matches", total)
    page_of = t("page {page}/{pages}", page=page + 1, pages=pages)
    embed.set_footer(text=f"{matches} · {page_of}")
    return fit(embed)


PASSWORD_LABEL = N_("Password (or app password)")


class PasswordModal(discord.ui.Modal):
    """Asks for a password (never a command option): defers, then hands the value to
    `submitted`; errors go through the tree's handler like a command's."""

    def __init__(self, title: str, t: Translator = ENGLISH) -> None:
        super().__init__(title=title, timeout=600)
        # Built here, not as a class item: its label is in the member's language.
        self.password = discord.ui.TextInput(
            label=t(PASSWORD_LABEL), custom_id="password", min_length=1, max_length=512
        )
        self.add_item(self.password)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.submitted(interaction, self.password.value)

    @abstractmethod
    async def submitted(self, interaction: discord.Interaction, password: str) -> None: ...

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await interaction.client.tree.on_error(interaction, error)  # type: ignore[arg-type]
