"""/mail rule add, list and remove: routing rules that send matching mail to another
channel, mention a role on it, or keep it from being posted (watch/match.py parses `match`,
watch/routing.py applies the rules, storage/rules.py keeps them)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.app_commands import locale_str

from cogs._autocomplete import account_autocomplete, find_account
from cogs._errors import UserError
from cogs._group import MailCommandsCog, MailGroup, guild_id_of
from cogs._lang import member_t
from cogs._ui import channel_ref, role_ref
from i18n import ENGLISH, N_, Msg, Translator
from storage import rules as rule_store
from storage.models import Account, RoutingRule
from watch.match import MatchError, parse_match

if TYPE_CHECKING:
    from bot import MailsyncBot

MESSAGE_CHARS = 1900  # a reply's content, under Discord's 2,000


class RuleGroup(app_commands.Group):
    # discord.py runs only the direct parent's check for a nested command, so this group
    # repeats /mail's Manage Server check.
    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await MailGroup.interaction_check(self, interaction)  # type: ignore[arg-type]


def shown(text: str) -> str:
    """A rule's match as reply text: inert markdown and mentions."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


def action_of(rule: RoutingRule, account: Account, t: Translator = ENGLISH) -> str:
    if rule.mute:
        return t("not posted (muted)")
    if rule.channel_id:
        parts = [t("to {channel}", channel=channel_ref(rule.channel_id))]
    else:
        parts = [t("to the account's channel")]
    if rule.mention_role_id:
        parts.append(t("mentioning {role}", role=role_ref(rule.mention_role_id)))
    else:
        parts.append(t("no mention"))
    if account.delivery != "instant":
        parts.append(t("at once (not digested)"))
    return ", ".join(parts)


class Rules(MailCommandsCog):
    rule = RuleGroup(
        name="rule", description=locale_str("Route, mention or mute mail by what it matches")
    )

    @rule.command(
        name="add", description=locale_str("Add a routing rule at the end of the account's list")
    )
    @app_commands.describe(
        account=locale_str("the account whose mail the rule looks at"),
        match=locale_str(
            "all must hold: from:, to: (To, Cc), subject:, folder:; "
            'e.g. to:billing@ subject:"big order"'
        ),
        channel=locale_str("post matching mail here instead of the account's channel"),
        mention=locale_str("a role to mention on matching mail (only this role is pinged)"),
        mute=locale_str("true: post nothing for matching mail"),
    )
    @app_commands.autocomplete(account=account_autocomplete)
    async def add(
        self,
        interaction: discord.Interaction,
        account: str,
        match: str,
        channel: discord.TextChannel | None = None,
        mention: discord.Role | None = None,
        mute: bool = False,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await find_account(self.bot, interaction, account)
        try:
            parsed = parse_match(match)
        except MatchError as exc:
            raise UserError(N_("{exc} Nothing was saved."), exc=exc) from exc
        if mute and (channel is not None or mention is not None):
            raise UserError(
                N_(
                    "A muted rule posts nothing: leave out `channel` and `mention`, "
                    "or drop `mute`. Nothing was saved."
                )
            )
        if not mute and channel is None and mention is None:
            raise UserError(
                N_(
                    "Say what the rule does: `channel`, `mention`, or `mute: true`. "
                    "Nothing was saved."
                )
            )
        if mention is not None and mention.is_default():
            raise UserError(N_("`mention` must be a role, not @everyone. Nothing was saved."))
        if channel is not None and channel.guild.id != guild_id_of(interaction):
            raise UserError(N_("The channel must be in this server. Nothing was saved."))
        try:
            added = await asyncio.to_thread(
                rule_store.add_rule,
                self.bot.engine,
                found.id,
                str(parsed),
                channel.id if channel else None,
                mention.id if mention else None,
                mute,
            )
        except rule_store.TooManyRulesError as exc:
            raise UserError(
                N_(
                    "`{name}` has {max_rules} rules, the most an account may have: "
                    "remove one with `/mail rule remove` first. Nothing was saved."
                ),
                name=found.name,
                max_rules=rule_store.MAX_RULES,
            ) from exc
        if added is None:
            raise UserError(N_("That account was removed meanwhile; nothing was saved."))
        number, rule = added
        t = member_t(interaction)
        text = t(
            "Rule {number} of `{name}`: mail matching {match} goes {action}. The first "
            "matching rule by number decides.",
            number=number,
            name=found.name,
            match=shown(rule.match),
            action=action_of(rule, found, t),
        )
        await interaction.followup.send(text, ephemeral=True)

    @rule.command(name="list", description=locale_str("Show an account's routing rules, numbered"))
    @app_commands.describe(account=locale_str("the account whose rules to show"))
    @app_commands.autocomplete(account=account_autocomplete)
    async def list_rules(self, interaction: discord.Interaction, account: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await find_account(self.bot, interaction, account)
        rules = await asyncio.to_thread(rule_store.list_rules, self.bot.engine, found.id)
        t = member_t(interaction)
        home = f"<#{found.channel_id}>"
        if not rules:
            await interaction.followup.send(
                t(
                    "`{name}` has no routing rules: all its mail goes to {channel}. Add one "
                    "with `/mail rule add`.",
                    name=found.name,
                    channel=home,
                ),
                ephemeral=True,
            )
            return
        lines = [
            t(
                "Rules of `{name}` (the first that matches decides; other mail goes to {channel}):",
                name=found.name,
                channel=home,
            )
        ]
        for number, rule in enumerate(rules, start=1):
            action = action_of(rule, found, t)
            lines.append(f"**{number}.** {shown(rule.match)} \N{RIGHTWARDS ARROW} {action}")
            if rule.channel_broken:
                held = await asyncio.to_thread(rule_store.held_count, self.bot.engine, rule.id)
                waiting = t.ngettext(
                    "held: {reason}; {count} alert waits. Removing rule {number} sends it "
                    "to {channel}.",
                    "held: {reason}; {count} alerts wait. Removing rule {number} sends them "
                    "to {channel}.",
                    held,
                    reason=rule.channel_broken,
                    number=number,
                    channel=home,
                )
                lines.append(f"\N{WARNING SIGN} {waiting}")
        for chunk in _chunks(lines):
            await interaction.followup.send(chunk, ephemeral=True)

    @rule.command(
        name="remove", description=locale_str("Remove a routing rule; later rules move up one")
    )
    @app_commands.describe(
        account=locale_str("the account"), number=locale_str("the rule's number in /mail rule list")
    )
    @app_commands.autocomplete(account=account_autocomplete)
    async def remove(
        self,
        interaction: discord.Interaction,
        account: str,
        number: app_commands.Range[int, 1, rule_store.MAX_RULES],
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await find_account(self.bot, interaction, account)
        removed = await asyncio.to_thread(rule_store.remove_rule, self.bot.engine, found.id, number)
        if removed is None:
            count = len(await asyncio.to_thread(rule_store.list_rules, self.bot.engine, found.id))
            have = Msg(N_("rules 1 to {count}"), count=count) if count else Msg(N_("no rules"))
            raise UserError(
                N_("`{name}` has no rule {number}; it has {have}."),
                name=found.name,
                number=number,
                have=have,
            )
        rule, moved = removed
        left = len(await asyncio.to_thread(rule_store.list_rules, self.bot.engine, found.id))
        t = member_t(interaction)
        text = t(
            "Removed rule {number} of `{name}` ({match}).",
            number=number,
            name=found.name,
            match=shown(rule.match),
        )
        if number <= left:
            text += " " + t("The rules after it moved up one: now numbered 1 to {left}.", left=left)
        if moved:
            text += " " + t.ngettext(
                "{count} alert held for its channel goes to {channel} instead.",
                "{count} alerts held for its channel go to {channel} instead.",
                moved,
                channel=channel_ref(found.channel_id),
            )
            self.alerts.sender.poke()
        await interaction.followup.send(text, ephemeral=True)


def _chunks(lines: list[str]) -> list[str]:
    out: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + 1 + len(line) > MESSAGE_CHARS:
            out.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line[:MESSAGE_CHARS]
    return [*out, current] if current else out


async def setup(bot: MailsyncBot) -> None:
    await bot.add_cog(Rules(bot))
