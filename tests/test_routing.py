"""watch/routing.py: where each new message goes (first matching rule, mute, delivery)."""

from i18n import ENGLISH
from mail.types import NewMessage
from storage.models import Account
from watch.routing import Route, Rule, alerts, plan


def _account(**kw) -> Account:
    fields = {
        "id": 7,
        "guild_id": 1,
        "channel_id": 100,
        "name": "desk",
        "protocol": "imap",
        "host": "h",
        "port": 993,
        "security": "tls",
        "username": "u",
        "password_encrypted": "x",
        "created_by": 1,
        "mention_role_id": 900,
    }
    fields.update(kw)
    return Account(**fields)


def _mail(uid: int, to: str, subject: str = "hello") -> NewMessage:
    return NewMessage("INBOX", uid, subject, "a@b.example", None, "", to=(to,))


RULES = [
    Rule.of(1, "to:billing@", 200, None, False),
    Rule.of(2, "subject:spam", None, None, True),
    Rule.of(3, "to:support@", 300, 901, False),
    Rule.of(4, "to:vip@", None, 902, False),
]


def test_first_matching_rule_by_number_decides():
    """billing@ to its channel without a mention, support@ to its channel with its role,
    spam muted even when another later rule would match, the rest to the account."""
    messages = [
        _mail(1, "billing@desk.example"),
        _mail(2, "support@desk.example", "spam offer"),  # rule 2 before rule 3
        _mail(3, "support@desk.example"),
        _mail(4, "other@desk.example"),
        _mail(5, "billing@desk.example", "spam"),  # rule 1 before rule 2
    ]
    planned = plan(messages, RULES, _account())
    assert planned.muted == 1
    assert {r: [m.uid for m in ms] for r, ms in planned.instant.items()} == {
        Route(200, None, 1): [1, 5],
        Route(300, 901, 3): [3],
        Route(100, 900, None): [4],
    }
    assert planned.waiting == []


def test_mention_only_rule_posts_in_the_account_channel_with_only_its_role():
    """A rule with a mention and no channel: the account's channel, that role alone, and
    no rule id (the account channel's state governs holding)."""
    planned = plan([_mail(1, "vip@desk.example")], RULES, _account())
    assert list(planned.instant) == [Route(100, 902, None)]


def test_digest_delivery_keeps_unrouted_mail_and_posts_routed_mail_at_once():
    """daily: unrouted mail waits for the digest, routed mail goes now, muted never."""
    messages = [_mail(1, "other@x"), _mail(2, "billing@x"), _mail(3, "x@x", "spam")]
    planned = plan(messages, RULES, _account(delivery="daily"))
    assert [m.uid for m in planned.waiting] == [1]
    assert list(planned.instant) == [Route(200, None, 1)]
    assert planned.muted == 1


class _Render:
    digest_threshold = 2
    digest_lines = 20

    def new_mail(self, name, message, privacy="snippet", *, guild_id=None):
        return {"title": f"one {message.uid}"}

    def digest(self, name, messages, total=None, privacy="snippet", heading=None, *, guild_id=None):
        return {"title": f"digest {len(messages)}"}

    def translator(self, guild_id):
        return ENGLISH


def test_alerts_carry_the_route_and_bursts_become_one_digest_per_destination():
    """Each destination gets single alerts, or one digest above the threshold."""
    messages = [_mail(i, "billing@x") for i in range(3)] + [_mail(9, "other@x")]
    made = alerts(plan(messages, RULES, _account()), _Render(), _account())
    assert [(a.embed["title"], a.channel_id, a.role_id, a.rule_id) for a in made] == [
        ("digest 3", 200, None, 1),
        ("one 9", 100, 900, None),
    ]
