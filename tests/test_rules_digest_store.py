"""storage/rules.py and storage/digest.py against the store (SQLite and PostgreSQL):
numbering, the 50-rule cap, held rule channels in the outbox, and digests taken atomically."""

import json
from datetime import UTC, datetime

import pytest

from mail.types import NewMessage
from storage import digest, outbox, repo, rules
from storage.outbox import Alert
from tests.store_helpers import new_account


@pytest.fixture
def account(engine):
    return repo.create_account(engine, new_account(channel_id=111, created_by=5))


def _mail(uid, subject="s"):
    return NewMessage("INBOX", uid, subject, "a@b.example", datetime(2026, 5, 1, tzinfo=UTC), "")


def test_rules_are_numbered_in_order_and_close_up(engine, account):
    """Numbers follow the order of adding; removing one renumbers the rest 1..n."""
    for i in range(4):
        number, _ = rules.add_rule(engine, account.id, f"from:r{i}", None, None, True)
        assert number == i + 1
    removed, moved = rules.remove_rule(engine, account.id, 2)
    assert (removed.match, moved) == ("from:r1", 0)
    assert [r.match for r in rules.list_rules(engine, account.id)] == [
        "from:r0",
        "from:r2",
        "from:r3",
    ]
    assert rules.remove_rule(engine, account.id, 4) is None
    assert rules.remove_rule(engine, account.id, 0) is None


def test_at_most_fifty_rules(engine, account):
    for i in range(rules.MAX_RULES):
        rules.add_rule(engine, account.id, f"from:r{i}", None, None, True)
    with pytest.raises(rules.TooManyRulesError):
        rules.add_rule(engine, account.id, "from:more", None, None, True)
    assert len(rules.list_rules(engine, account.id)) == rules.MAX_RULES


def test_a_broken_rule_channel_holds_only_its_alerts(engine, account):
    """A rule's channel marked broken holds the rule's alerts, not the account's; removing
    the rule moves them to the account's channel, due again; an account channel change
    leaves the rule's alerts where they are."""
    _, rule = rules.add_rule(engine, account.id, "to:billing@", 222, None, False)
    outbox.enqueue(
        engine,
        account,
        [Alert({"title": "routed"}, channel_id=222, rule_id=rule.id), Alert({"title": "own"})],
    )
    outbox.mark_rule_channel_broken(engine, rule.id, "Discord refused (403)")
    due = outbox.due(engine, datetime.now(UTC))
    assert [json.loads(r.payload)["embed"]["title"] for r in due] == ["own"]
    assert rules.held_count(engine, rule.id) == 1
    repo.update_account(engine, account.id, {"channel_id": 333})
    due = outbox.due(engine, datetime.now(UTC))
    assert [(r.channel_id, r.rule_id) for r in due] == [(333, None)]  # the account's alert
    assert rules.held_count(engine, rule.id) == 1  # the rule's stays held on 222
    _, moved = rules.remove_rule(engine, account.id, 1)
    assert moved == 1
    due = outbox.due(engine, datetime.now(UTC))
    assert [(r.channel_id, r.rule_id) for r in due] == [(333, None), (333, None)]


def test_flush_takes_every_waiting_row_once(engine, account):
    """The digest lists the newest 20 and counts all; the rows are gone with it queued;
    a second flush finds nothing and queues nothing; a removed account gives None."""
    with repo._session(engine) as session:
        session.add_all(digest.rows(account.id, [_mail(i, f"m{i}") for i in range(25)]))
        session.commit()
    seen = []

    def build(acc, messages, total):
        seen.append(([m.subject for m in messages], total))
        return [Alert({"title": f"{total}"})]

    assert digest.flush(engine, account.id, build) == 25
    assert seen == [([f"m{i}" for i in range(5, 25)], 25)]
    assert digest.waiting_count(engine, account.id) == 0
    assert outbox.pending_count(engine, account.id) == 1
    assert digest.flush(engine, account.id, build) == 0
    assert outbox.pending_count(engine, account.id) == 1
    repo.delete_account(engine, account.id)
    assert digest.flush(engine, account.id, build) is None


def test_oldest_waiting_is_aware(engine, account):
    """Times come back in UTC on both stores (SQLite drops the zone)."""
    assert digest.oldest_waiting(engine, account.id) is None
    with repo._session(engine) as session:
        session.add_all(digest.rows(account.id, [_mail(1)]))
        session.commit()
    oldest = digest.oldest_waiting(engine, account.id)
    assert oldest.tzinfo is not None
    assert abs((datetime.now(UTC) - oldest).total_seconds()) < 60
