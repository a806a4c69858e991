"""Routing rules of an account (`/mail rule add|list|remove`). Rules are numbered 1..n in
the order they were added (by id): removing one renumbers those after it, as a list does.
All blocking: async callers go through asyncio.to_thread."""

from __future__ import annotations

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from storage.models import Account, OutboxAlert, RoutingRule

MAX_RULES = 50


class TooManyRulesError(ValueError):
    pass


def _session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)


def add_rule(
    engine: Engine,
    account_id: int,
    match: str,
    channel_id: int | None,
    role_id: int | None,
    mute: bool,
) -> tuple[int, RoutingRule] | None:
    """Store a rule at the end; returns (its number, the rule), None if the account is
    gone. TooManyRulesError at MAX_RULES (checked under a lock on the account row, so two
    adds at once cannot pass 50 together on PostgreSQL; SQLite writes one at a time)."""
    with _session(engine) as session:
        account = session.exec(
            select(Account).where(Account.id == account_id).with_for_update()
        ).first()
        if account is None:
            return None
        count = session.exec(
            select(func.count())
            .select_from(RoutingRule)
            .where(RoutingRule.account_id == account_id)
        ).one()
        if count >= MAX_RULES:
            raise TooManyRulesError(f"At most {MAX_RULES} rules per account.")
        rule = RoutingRule(
            account_id=account_id,
            match=match,
            channel_id=channel_id,
            mention_role_id=role_id,
            mute=mute,
        )
        session.add(rule)
        session.commit()
        return int(count) + 1, rule


def list_rules(engine: Engine, account_id: int) -> list[RoutingRule]:
    """The account's rules in number order (number = position + 1)."""
    with _session(engine) as session:
        return list(
            session.exec(
                select(RoutingRule)
                .where(RoutingRule.account_id == account_id)
                .order_by(col(RoutingRule.id))
            ).all()
        )


def remove_rule(engine: Engine, account_id: int, number: int) -> tuple[RoutingRule, int] | None:
    """Delete rule `number` (1-based); its alerts still waiting (e.g. held for a channel
    Discord refused) move to the account's channel in the same transaction, so no mail is
    lost. Returns (the rule, how many alerts moved), None if there is no such number."""
    with _session(engine) as session:
        rules = session.exec(
            select(RoutingRule)
            .where(RoutingRule.account_id == account_id)
            .order_by(col(RoutingRule.id))
        ).all()
        account = session.get(Account, account_id)
        if not 1 <= number <= len(rules) or account is None:
            return None
        rule = rules[number - 1]
        moved = session.exec(  # type: ignore[call-overload]
            update(OutboxAlert)
            .where(col(OutboxAlert.rule_id) == rule.id, col(OutboxAlert.sent_at).is_(None))
            .values(rule_id=None, channel_id=account.channel_id)
        ).rowcount
        session.delete(rule)
        session.commit()
        return rule, int(moved or 0)


def held_count(engine: Engine, rule_id: int) -> int:
    with _session(engine) as session:
        return session.exec(
            select(func.count())
            .select_from(OutboxAlert)
            .where(OutboxAlert.rule_id == rule_id, col(OutboxAlert.sent_at).is_(None))
        ).one()
