"""Notices the engine queues for a channel (watch/render.Renderer): alerts, digests, folder
resets, trouble, recovery, quota warnings and boards, each rendered in the language of the
guild it goes to, asked when the notice is rendered."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import discord

from cogs._ui import (
    DIGEST_LINES,
    DIGEST_THRESHOLD,
    NOTICE_COLOUR,
    _resource_line,
    digest_embed,
    mail_text,
    new_mail_embed,
    truncate,
)
from i18n import ENGLISH, Msg, Translator, translator
from mail.errors import MailError
from mail.quota import QuotaResource
from mail.types import NewMessage
from watch.board_data import BoardData


def folder_reset_embed(account_name: str, folder: str, t: Translator = ENGLISH) -> discord.Embed:
    embed = discord.Embed(
        title=t("Folder reset by the server"),
        description=t(
            "The server renumbered `{folder}` (UIDVALIDITY changed). Mail already there is "
            "not announced; new mail is watched from now on.",
            folder=mail_text(folder, 200),
        ),
        colour=NOTICE_COLOUR,
    )
    embed.set_footer(text=truncate(account_name, 200))
    return embed


def quota_warning_embed(
    account_name: str,
    resource: QuotaResource,
    threshold: int,
    days_left: float | None,
    t: Translator = ENGLISH,
) -> discord.Embed:
    lines = [_resource_line(resource, t)]
    if days_left is not None:
        days = round(days_left)
        lines.append(
            t.ngettext(
                "At the current rate it is full in about {count} day.",
                "At the current rate it is full in about {count} days.",
                days,
            )
        )
    embed = discord.Embed(
        title=t("Mailbox over {threshold} % full", threshold=threshold),
        description="\n".join(lines),
        colour=NOTICE_COLOUR,
    )
    embed.set_footer(text=truncate(account_name, 200))
    return embed


def trouble_embed(
    account_name: str,
    failures: int,
    error: str,
    kind: str,
    retry_at: datetime | None,
    t: Translator = ENGLISH,
) -> discord.Embed:
    lines = [
        t.ngettext(
            "The last poll failed: {error}",
            "The last {count} polls failed: {error}",
            failures,
            error=error,
        )
    ]
    if kind == "login":
        lines.append(
            t(
                "Polling goes on, but this will not heal by itself: set the new password "
                "with `/mail password`."
            )
        )
    if kind == "reauth":
        lines.append(
            t(
                "Polling is stopped until someone signs in again with `/mail reauth`; "
                "mail that arrives meanwhile is announced after that."
            )
        )
    if retry_at is not None:
        lines.append(
            t(
                "Next try {when}; retries back off up to an hour.",
                when=discord.utils.format_dt(retry_at, "R"),
            )
        )
    embed = discord.Embed(
        title=t("Mail account in trouble"), description="\n".join(lines), colour=NOTICE_COLOUR
    )
    embed.set_footer(text=truncate(account_name, 200))
    return embed


def recovered_embed(account_name: str, failures: int, t: Translator = ENGLISH) -> discord.Embed:
    embed = discord.Embed(
        title=t("Mail account recovered"),
        description=t.ngettext(
            "Polling works again after {count} failed poll.",
            "Polling works again after {count} failed polls.",
            failures,
        ),
        colour=discord.Colour.green(),
    )
    embed.set_footer(text=truncate(account_name, 200))
    return embed


def paused_embed(account_name: str, reason: Msg | str, t: Translator = ENGLISH) -> discord.Embed:
    text = reason.render(t) if isinstance(reason, Msg) else reason
    embed = discord.Embed(
        title=t("Mail account paused"), description=truncate(text, 2000), colour=NOTICE_COLOUR
    )
    embed.set_footer(text=truncate(account_name, 200))
    return embed


def error_text(error: MailError | str, t: Translator) -> str:
    return error.render(t) if isinstance(error, MailError) else error


class EmbedRenderer:
    """watch.render.Renderer for Discord: every notice the engine queues is an embed dict,
    in the language of the guild it goes to (`language`: guild id -> catalog language,
    asked when the notice is rendered; English without one)."""

    digest_threshold = DIGEST_THRESHOLD
    digest_lines = DIGEST_LINES

    def __init__(self, language: Callable[[int], str] | None = None) -> None:
        self._language = language

    def translator(self, guild_id: int | None) -> Translator:
        if guild_id is None or self._language is None:
            return ENGLISH
        return translator(self._language(guild_id))

    def new_mail(
        self,
        account_name: str,
        message: NewMessage,
        privacy: str = "snippet",
        *,
        guild_id: int | None = None,
    ) -> dict:
        return new_mail_embed(account_name, message, privacy, self.translator(guild_id)).to_dict()

    def digest(
        self,
        account_name: str,
        messages: Sequence[NewMessage],
        total: int | None = None,
        privacy: str = "snippet",
        heading: str | None = None,
        *,
        guild_id: int | None = None,
    ) -> dict:
        t = self.translator(guild_id)
        return digest_embed(account_name, messages, total, privacy, heading, t).to_dict()

    def folder_reset(self, account_name: str, folder: str, *, guild_id: int | None = None) -> dict:
        return folder_reset_embed(account_name, folder, self.translator(guild_id)).to_dict()

    def trouble(
        self,
        account_name: str,
        failures: int,
        error: MailError | str,
        kind: str,
        retry_at: datetime | None,
        *,
        guild_id: int | None = None,
    ) -> dict:
        t = self.translator(guild_id)
        text = error_text(error, t)
        return trouble_embed(account_name, failures, text, kind, retry_at, t).to_dict()

    def paused(self, account_name: str, reason: Msg | str, *, guild_id: int | None = None) -> dict:
        return paused_embed(account_name, reason, self.translator(guild_id)).to_dict()

    def recovered(self, account_name: str, failures: int, *, guild_id: int | None = None) -> dict:
        return recovered_embed(account_name, failures, self.translator(guild_id)).to_dict()

    def quota_warning(
        self,
        account_name: str,
        resource: QuotaResource,
        threshold: int,
        days_left: float | None,
        *,
        guild_id: int | None = None,
    ) -> dict:
        t = self.translator(guild_id)
        return quota_warning_embed(account_name, resource, threshold, days_left, t).to_dict()

    def board(self, data: BoardData, *, guild_id: int | None = None) -> dict:
        from cogs._board_ui import board_embed  # it builds on the helpers above

        return board_embed(data, self.translator(guild_id)).to_dict()
