"""Routing rules applied to POP3 mail, and the rules as the engine uses them. Blocking
(store reads and writes): the engine calls these through asyncio.to_thread."""

from __future__ import annotations

import logging

from sqlalchemy import Engine

from storage import archive, digest, outbox
from storage import rules as rule_store
from storage.models import Account
from watch import routing
from watch.render import Renderer

log = logging.getLogger(__name__)


def load_rules(engine: Engine, account_id: int) -> list[routing.Rule]:
    """The account's rules in number order, parsed."""
    out = []
    for r in rule_store.list_rules(engine, account_id):
        try:
            out.append(routing.Rule.of(r.id, r.match, r.channel_id, r.mention_role_id, r.mute))
        except ValueError:  # checked when added; a parser change must not stop the polls
            log.error("rule %s of account %s no longer parses; ignored", r.id, account_id)
    return out


def queue_pop3(
    engine: Engine, render: Renderer, account: Account, rules: list[routing.Rule]
) -> tuple[int, int]:
    """Route every unannounced archive row on its own (rules need each message, so the
    newest-20 shortcut of instant delivery does not apply), read bodies only for single
    alerts, and queue the alerts and digest lines while marking the rows announced, in one
    transaction. Returns (alerts queued, messages announced)."""
    rows = archive.unannounced_all(engine, account.id)
    if not rows:
        return 0, 0
    planned = routing.plan(archive.new_messages(engine, rows, False), rules, account)
    by_id = {r.id: r for r in rows}
    for route, group in planned.instant.items():
        if len(group) <= render.digest_threshold:  # single alerts show the text
            planned.instant[route] = archive.new_messages(
                engine, [by_id[m.uid] for m in group], True
            )
    alerts = routing.alerts(planned, render, account)
    up_to = max(r.id for r in rows if r.id is not None)
    waiting = digest.rows(account.id, planned.waiting)
    outbox.enqueue_archived(engine, account, alerts, up_to, waiting, expected=len(rows))
    return len(alerts), len(rows)
