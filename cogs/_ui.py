"""Embeds and text shown in Discord. Everything that comes from mail passes through
`mail_text`, which escapes markdown and mentions and respects Discord's limits."""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime

import discord

from mail.quota import QuotaReport, QuotaResource, bar, human_kib
from mail.types import FolderStatus, NewMessage
from watch.board_data import BoardData

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


def _timestamp(date: datetime | None) -> str:
    return f"<t:{int(date.timestamp())}:f>" if date else "unknown"


def fit(embed: discord.Embed) -> discord.Embed:
    """Trim the description until the whole embed is within Discord's 6,000 characters."""
    overflow = len(embed) - EMBED_TOTAL_MAX
    if overflow > 0 and embed.description:
        embed.description = truncate(embed.description, max(1, len(embed.description) - overflow))
    return embed


PRIVACY_LEVELS = ("minimal", "headers", "snippet", "full")


def new_mail_embed(
    account_name: str, message: NewMessage, privacy: str = "snippet"
) -> discord.Embed:
    """One alert, showing as much of the message as the account's privacy level allows:
    minimal (folder and date), headers (sender, subject, date, folder, attachment count),
    snippet (and ~300 characters of text, attachment names) or full (the whole text)."""
    folder = mail_text(message.folder, FIELD_MAX)
    if privacy == "minimal":
        embed = discord.Embed(
            title=truncate(f"New mail in {folder}", TITLE_MAX),
            colour=NEW_MAIL_COLOUR,
            timestamp=message.date,
        )
        embed.add_field(name="Date", value=_timestamp(message.date), inline=True)
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
    embed.add_field(name="From", value=mail_text(message.sender, FIELD_MAX), inline=True)
    embed.add_field(name="Folder", value=folder, inline=True)
    embed.add_field(name="Date", value=_timestamp(message.date), inline=True)
    if message.attachments and privacy == "headers":
        count = len(message.attachments)
        embed.add_field(name="Attachments", value=str(count), inline=False)
    elif message.attachments:
        names = ", ".join(message.attachments)
        embed.add_field(name="Attachments", value=mail_text(names, FIELD_MAX), inline=False)
    embed.set_footer(text=truncate(account_name, 200))
    return fit(embed)


def digest_embed(
    account_name: str,
    messages: Sequence[NewMessage],
    total: int | None = None,
    privacy: str = "snippet",
    heading: str | None = None,
) -> discord.Embed:
    """The count and the newest lines; `total` when `messages` holds only the newest. At
    privacy "minimal" only the count per folder, no sender or subject. `heading` names a
    scheduled digest ("Daily digest: 12 new messages")."""
    count = len(messages) if total is None else total
    if privacy == "minimal":
        folders: dict[str, int] = {}
        for m in messages:
            folders[m.folder] = folders.get(m.folder, 0) + 1
        lines = [f"{mail_text(f, 100)}: {n}" for f, n in sorted(folders.items())]
        if total is not None and total > len(messages):
            lines.append(f"\N{HORIZONTAL ELLIPSIS} and {total - len(messages)} older")
    else:
        newest = sorted(messages, key=lambda m: (m.date is not None, m.date or 0, m.uid))
        newest = list(reversed(newest))[:DIGEST_LINES]
        lines = [
            f"**{mail_text(m.sender, 80)}** \N{EM DASH} {mail_text(m.subject, 120)}" for m in newest
        ]
        more = count - len(newest)
        if more > 0:
            lines.append(f"\N{HORIZONTAL ELLIPSIS} and {more} older")
    counted = f"{count} new message" + ("" if count == 1 else "s")
    embed = discord.Embed(
        title=truncate(f"{heading}: {counted}" if heading else counted, TITLE_MAX),
        description=truncate("\n".join(lines), DESCRIPTION_MAX),
        colour=NEW_MAIL_COLOUR,
    )
    embed.set_footer(text=truncate(account_name, 200))
    return fit(embed)


def folder_reset_embed(account_name: str, folder: str) -> discord.Embed:
    embed = discord.Embed(
        title="Folder reset by the server",
        description=(
            f"The server renumbered `{mail_text(folder, 200)}` (UIDVALIDITY changed). "
            "Mail already there is not announced; new mail is watched from now on."
        ),
        colour=NOTICE_COLOUR,
    )
    embed.set_footer(text=truncate(account_name, 200))
    return embed


def relative_time(when: datetime | None) -> str:
    return f"<t:{int(when.timestamp())}:R>" if when else "never"


def _resource_line(resource: QuotaResource) -> str:
    percent = resource.percent
    if resource.name == "STORAGE":
        amounts = f"{human_kib(resource.usage)} of {human_kib(resource.limit)}"
    else:
        amounts = f"{resource.usage:,} of {resource.limit:,}"
    shown = "no limit" if percent is None else f"{percent:.1f} %"
    label = "messages" if resource.name == "MESSAGE" else resource.name.lower()
    return f"`{bar(percent)}` {shown} · {label}: {amounts}"


def quota_warning_embed(
    account_name: str, resource: QuotaResource, threshold: int, days_left: float | None
) -> discord.Embed:
    lines = [_resource_line(resource)]
    if days_left is not None:
        lines.append(f"At the current rate it is full in about {days_left:.0f} days.")
    embed = discord.Embed(
        title=f"Mailbox over {threshold} % full",
        description="\n".join(lines),
        colour=NOTICE_COLOUR,
    )
    embed.set_footer(text=truncate(account_name, 200))
    return embed


def quota_report_embed(account_name: str, report: QuotaReport) -> discord.Embed:
    embed = discord.Embed(title=f"Quota of {truncate(account_name, 200)}", colour=NEW_MAIL_COLOUR)
    if not report.supported:
        embed.description = "The server does not offer the QUOTA extension, so it reports no limit."
    elif not report.roots:
        embed.description = "No quota applies to this mailbox (no limit)."
    for root in report.roots[:25]:
        value = "\n".join(_resource_line(r) for r in root.resources) or "no resources"
        embed.add_field(name=truncate(root.name or "(default)", 256), value=truncate(value, 1024))
    return fit(embed)


def folder_pages(statuses: Sequence[FolderStatus], per_page: int = 40) -> list[str]:
    """Lines of `name — messages, unseen, size`, cut into embed-sized pages."""
    lines = []
    for f in statuses:
        parts = [f"{f.messages:,} messages"]
        if f.unseen is not None:
            parts.append(f"{f.unseen:,} unseen")
        if f.size is not None:
            parts.append(human_kib(f.size // 1024))
        lines.append(f"**{mail_text(f.name, 100)}** \N{EM DASH} {', '.join(parts)}")
    pages = []
    for start in range(0, len(lines), per_page):
        pages.append(truncate("\n".join(lines[start : start + per_page]), DESCRIPTION_MAX))
    return pages or ["No folders."]


def pop3_folders_text(count: int, size_bytes: int) -> str:
    return (
        f"**INBOX** \N{EM DASH} {count:,} messages, {human_kib(size_bytes // 1024)}\n\n"
        "POP3 sees only the inbox: folders made in webmail or over IMAP are invisible to it."
    )


def archive_embed(
    account_name: str, query: str | None, rows: Sequence, page: int, pages: int, total: int
) -> discord.Embed:
    title = f"Archive of {truncate(account_name, 150)}"
    if query:
        title += f": \N{LEFT-POINTING DOUBLE ANGLE QUOTATION MARK}{truncate(query, 60)}"
        title += "\N{RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK}"
    lines = []
    for row in rows:
        when = row.sent_at or row.downloaded_at
        stamp = f"<t:{int(when.timestamp())}:d>" if when else "undated"
        lines.append(
            f"{stamp} **{mail_text(row.sender, 80)}** \N{EM DASH} {mail_text(row.subject, 150)}"
        )
    embed = discord.Embed(
        title=truncate(title, TITLE_MAX),
        description="\n".join(lines) or "No archived message matches.",
        colour=NEW_MAIL_COLOUR,
    )
    embed.set_footer(text=f"{total:,} match{'es' if total != 1 else ''} · page {page + 1}/{pages}")
    return fit(embed)


def trouble_embed(
    account_name: str, failures: int, error: str, kind: str, retry_at: datetime | None
) -> discord.Embed:
    lines = [f"The last {failures} polls failed: {error}"]
    if kind == "login":
        lines.append(
            "Polling goes on, but this will not heal by itself: set the new password "
            "with `/mail password`."
        )
    if kind == "reauth":
        lines.append(
            "Polling is stopped until someone signs in again with `/mail reauth`; "
            "mail that arrives meanwhile is announced after that."
        )
    if retry_at is not None:
        lines.append(f"Next try <t:{int(retry_at.timestamp())}:R>; retries back off up to an hour.")
    embed = discord.Embed(
        title="Mail account in trouble", description="\n".join(lines), colour=NOTICE_COLOUR
    )
    embed.set_footer(text=truncate(account_name, 200))
    return embed


def paused_embed(account_name: str, reason: str) -> discord.Embed:
    embed = discord.Embed(
        title="Mail account paused", description=truncate(reason, 2000), colour=NOTICE_COLOUR
    )
    embed.set_footer(text=truncate(account_name, 200))
    return embed


def recovered_embed(account_name: str, failures: int) -> discord.Embed:
    embed = discord.Embed(
        title="Mail account recovered",
        description=f"Polling works again after {failures} failed polls.",
        colour=discord.Colour.green(),
    )
    embed.set_footer(text=truncate(account_name, 200))
    return embed


class PasswordModal(discord.ui.Modal):
    """Asks for a password (never a command option): defers, then hands the value to
    `submitted`; errors go through the tree's handler like a command's."""

    password: discord.ui.TextInput = discord.ui.TextInput(
        label="Password (or app password)", custom_id="password", min_length=1, max_length=512
    )

    def __init__(self, title: str) -> None:
        super().__init__(title=title, timeout=600)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.submitted(interaction, self.password.value)

    @abstractmethod
    async def submitted(self, interaction: discord.Interaction, password: str) -> None: ...

    async def on_error(self, interaction: discord.Interaction, error: Exception) -> None:
        await interaction.client.tree.on_error(interaction, error)  # type: ignore[arg-type]


class EmbedRenderer:
    """watch.render.Renderer for Discord: every notice the engine queues is an embed dict."""

    digest_threshold = DIGEST_THRESHOLD
    digest_lines = DIGEST_LINES

    def new_mail(self, account_name: str, message: NewMessage, privacy: str = "snippet") -> dict:
        return new_mail_embed(account_name, message, privacy).to_dict()

    def digest(
        self,
        account_name: str,
        messages: Sequence[NewMessage],
        total: int | None = None,
        privacy: str = "snippet",
        heading: str | None = None,
    ) -> dict:
        return digest_embed(account_name, messages, total, privacy, heading).to_dict()

    def folder_reset(self, account_name: str, folder: str) -> dict:
        return folder_reset_embed(account_name, folder).to_dict()

    def trouble(
        self, account_name: str, failures: int, error: str, kind: str, retry_at: datetime | None
    ) -> dict:
        return trouble_embed(account_name, failures, error, kind, retry_at).to_dict()

    def recovered(self, account_name: str, failures: int) -> dict:
        return recovered_embed(account_name, failures).to_dict()

    def paused(self, account_name: str, reason: str) -> dict:
        return paused_embed(account_name, reason).to_dict()

    def quota_warning(
        self, account_name: str, resource: QuotaResource, threshold: int, days_left: float | None
    ) -> dict:
        return quota_warning_embed(account_name, resource, threshold, days_left).to_dict()

    def board(self, data: BoardData) -> dict:
        from cogs._board_ui import board_embed  # it builds on the helpers above

        return board_embed(data).to_dict()
