"""Where each new message goes: the account's routing rules (first match by number decides)
and its delivery (instant, or waiting for an hourly/daily digest). Pure: the engine loads
the rules and writes what this returns.

How rules and digests combine (docs/routing.md):
- a muted message is never posted, not even in a digest;
- a message a rule routes (another channel, or a mention) is posted at once, whatever the
  account's delivery: a rule names mail someone wants to see now;
- every other message follows the account's delivery: posted at once (bursts of more than
  the renderer's threshold as one digest, as ever), or kept for the next digest."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from mail.types import NewMessage
from storage.live_alerts import Track
from storage.models import Account
from storage.outbox import Alert
from watch.conversations import thread_entry
from watch.match import Match, parse_match
from watch.render import Renderer
from watch.reply_source import reply_view


@dataclass(frozen=True)
class Rule:
    id: int
    match: Match
    channel_id: int | None = None
    role_id: int | None = None
    mute: bool = False

    @classmethod
    def of(cls, row_id: int, match: str, channel_id: int | None, role_id: int | None, mute: bool):
        return cls(row_id, parse_match(match), channel_id, role_id, mute)


@dataclass(frozen=True)
class Route:
    """An instant alert's destination. `rule_id` is set only when a rule names its own
    channel, whose refusal by Discord then holds that rule's alerts, not the account's."""

    channel_id: int
    role_id: int | None
    rule_id: int | None = None


@dataclass
class Plan:
    instant: dict[Route, list[NewMessage]] = field(default_factory=dict)
    waiting: list[NewMessage] = field(default_factory=list)  # for the next digest
    muted: int = 0


def first_match(message: NewMessage, rules: Sequence[Rule]) -> Rule | None:
    return next((r for r in rules if r.match.matches(message)), None)


def _elsewhere(rule: Rule, account: Account) -> bool:
    return rule.mute or (rule.channel_id or account.channel_id) != account.channel_id


def public(
    messages: Iterable[NewMessage], rules: Sequence[Rule], account: Account
) -> list[NewMessage]:
    """The messages whose alert (or digest line) goes to the account's own channel: what a
    status board may show. Muted mail, and mail a rule sends to another channel (perhaps a
    private one), stays out of it."""
    out = []
    for message in messages:
        rule = first_match(message, rules)
        if rule is None or not _elsewhere(rule, account):
            out.append(message)
    return out


def keeps_mail_elsewhere(rules: Sequence[Rule], account: Account) -> bool:
    """Some rule mutes mail or sends it to another channel."""
    return any(_elsewhere(r, account) for r in rules)


def plan(messages: Iterable[NewMessage], rules: Sequence[Rule], account: Account) -> Plan:
    """Sort new messages (oldest first) into instant alerts per destination, waiting digest
    lines and muted ones."""
    out = Plan()
    digested = account.delivery in ("hourly", "daily")
    own = Route(account.channel_id, account.mention_role_id)
    for message in messages:
        rule = first_match(message, rules)
        if rule is not None and rule.mute:
            out.muted += 1
            continue
        if rule is not None:
            channel = rule.channel_id or account.channel_id
            route = Route(channel, rule.role_id, rule.id if rule.channel_id else None)
        elif digested:
            out.waiting.append(message)
            continue
        else:
            route = own
        out.instant.setdefault(route, []).append(message)
    return out


def alerts(
    plan: Plan,
    render: Renderer,
    account: Account,
    track: Callable[[NewMessage], Track | None] | None = None,
) -> list[Alert]:
    """One alert per instant message, or one burst digest for a destination that gets more
    than the renderer's threshold at once. `track`: a single alert's action buttons (a
    digest has none)."""
    out: list[Alert] = []
    for route, messages in plan.instant.items():
        if len(messages) > render.digest_threshold:  # a burst digest: no buttons, no thread
            payloads = [
                (
                    render.digest(
                        account.name, messages, privacy=account.privacy, guild_id=account.guild_id
                    ),
                    None,
                    None,
                    None,
                )
            ]
        else:
            payloads = [
                (
                    render.new_mail(account.name, m, account.privacy, guild_id=account.guild_id),
                    track and track(m),
                    thread_entry(account, m, render.translator(account.guild_id)),
                    reply_view(account, m),
                )
                for m in messages
            ]
        out.extend(
            Alert(
                p,
                channel_id=route.channel_id,
                role_id=route.role_id,
                rule_id=route.rule_id,
                track=t,
                thread=thread,
                view=view,
            )
            for p, t, thread, view in payloads
        )
    return out
