"""End to end, /mail rule add|list|remove: routing by to: (IMAP and POP3), mention by rule,
mute, numbering after removal, refused matches, and a rule channel Discord refuses."""

import pytest
from sqlalchemy import create_engine, text

import bot as bot_module
from mail import net
from tests.plugins.discord_double import ChannelSpec, GuildSpec, RoleSpec
from tests.plugins.dovecot import make_message
from tests.plugins.mailsync import Harness, until

CHANNEL_POSTS = r"/channels/\d+/messages$"
SUPPORT = "support@desk.example"
BILLING = "billing@desk.example"


@pytest.fixture
async def desk(make_discord_double, dovecot, database_url, monkeypatch, secret_key):
    """A help desk server: #alerts (the account's), #support, #billing, #locked; a role
    for billing and one for the account."""
    monkeypatch.setenv("SSL_CERT_FILE", dovecot.ca_file)
    net.reset_tls_context()
    names = ("alerts", "support", "billing", "locked")
    guild = GuildSpec(
        channels=[ChannelSpec(name=n) for n in names],
        roles=[RoleSpec(name="Billing team"), RoleSpec(name="Desk")],
    )
    double = await make_discord_double(guilds=[guild])
    settings = bot_module.Settings(
        discord_token="fake-token",
        secret_key=secret_key,
        database_url=database_url,
        guild_id=double.guild_id,
        allow_private_hosts=True,
    )
    harness = Harness(double, dovecot, settings)
    harness.chan = {c.name: c.id for c in guild.channels}  # type: ignore[attr-defined]
    harness.role = {r.name: r.id for r in guild.roles}  # type: ignore[attr-defined]
    yield harness
    net.reset_tls_context()


def _scalar(harness, sql):
    engine = create_engine(harness.settings.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


async def _ask(harness, name, options=None, **kw):
    return await harness.reply_text(await harness.command(name, options or {}, **kw))


def _titles(harness, channel):
    return [p["embeds"][0]["title"] for p in harness.double.channel_messages(harness.chan[channel])]


def _mail(subject, to, cc=None):
    raw = make_message(subject=subject, to=to)
    return raw.replace(b"\r\nSubject:", f"\r\nCc: {cc}\r\nSubject:".encode(), 1) if cc else raw


async def test_to_rules_send_support_and_billing_to_their_own_channels(desk, dovecot, mail_user):
    """One mailbox, two addresses: to:support@ mail goes to #support, to:billing@ (To or
    Cc) to #billing, the rest to the account's #alerts; nothing is posted twice."""
    async with desk.running():
        await desk.add_account(mail_user, name="desk", folders="Sent", channel=desk.chan["alerts"])
        said = await _ask(
            desk,
            "mail rule add",
            {"account": "desk", "match": "to:support@", "channel": desk.chan["support"]},
        )
        assert "Rule 1 of `desk`" in said and f"<#{desk.chan['support']}>" in said
        said = await _ask(
            desk,
            "mail rule add",
            {"account": "desk", "match": "to:BILLING@", "channel": desk.chan["billing"]},
        )
        assert "Rule 2 of `desk`" in said
        dovecot.append(mail_user, _mail("printer broken", f"Help <{SUPPORT}>"), folder="Sent")
        dovecot.append(mail_user, _mail("invoice 7", "ann@x.example", cc=BILLING), folder="Sent")
        dovecot.append(mail_user, _mail("hello there", "ceo@desk.example"), folder="Sent")
        assert "3 new messages" in await _ask(desk, "mail check", {"account": "desk"})
        await desk.posts()
        assert _titles(desk, "support") == ["printer broken"]
        assert _titles(desk, "billing") == ["invoice 7"]
        assert _titles(desk, "alerts") == ["hello there"]
        for name in ("support", "billing", "alerts"):
            for post in desk.double.channel_messages(desk.chan[name]):
                assert post["allowed_mentions"] == {"parse": []}


async def test_pop3_mail_is_routed_by_to_as_well(desk, dovecot, mail_user):
    """POP3: the archive keeps To and Cc, so to: rules route downloaded mail the same."""
    async with desk.running():
        await desk.add_account(
            mail_user,
            name="pop",
            protocol="pop3",
            port=dovecot.pop3s_port,
            channel=desk.chan["alerts"],
        )
        options = {"account": "pop", "match": "to:billing@", "channel": desk.chan["billing"]}
        await _ask(desk, "mail rule add", options)
        dovecot.append(mail_user, _mail("pop invoice", BILLING))
        dovecot.append(mail_user, _mail("pop question", SUPPORT))
        assert "2 new messages" in await _ask(desk, "mail check", {"account": "pop"})
        await desk.posts()
        assert _titles(desk, "billing") == ["pop invoice"]
        assert _titles(desk, "alerts") == ["pop question"]
        post = desk.double.channel_messages(desk.chan["billing"])[0]
        assert "Hello from the test suite" in post["embeds"][0]["description"]  # body read


async def test_rule_mention_pings_exactly_its_role(desk, dovecot, mail_user):
    """The account mentions @Desk; a rule with mention @Billing team: its alert's allowed
    mentions name that role alone (not the account's), other mail keeps the account's."""
    billing_role, desk_role = desk.role["Billing team"], desk.role["Desk"]
    async with desk.running():
        await desk.add_account(mail_user, name="m", folders="Sent", channel=desk.chan["alerts"])
        await _ask(desk, "mail edit", {"account": "m", "mention": desk_role})
        said = await _ask(
            desk, "mail rule add", {"account": "m", "match": "to:billing@", "mention": billing_role}
        )
        assert f"mentioning <@&{billing_role}>" in said
        dovecot.append(mail_user, _mail("@everyone pay now", BILLING), folder="Sent")
        dovecot.append(mail_user, _mail("plain", SUPPORT), folder="Sent")
        await _ask(desk, "mail check", {"account": "m"})
        routed, plain = await desk.posts(2)
        assert routed["content"] == f"<@&{billing_role}>"
        assert routed["allowed_mentions"]["parse"] == []
        assert [int(r) for r in routed["allowed_mentions"]["roles"]] == [billing_role]
        assert plain["content"] == f"<@&{desk_role}>"
        assert [int(r) for r in plain["allowed_mentions"]["roles"]] == [desk_role]


async def test_muted_rule_posts_nothing(desk, dovecot, mail_user):
    """mute:true: matching mail is passed without a post; other mail is posted."""
    async with desk.running():
        await desk.add_account(mail_user, name="q", folders="Sent", channel=desk.chan["alerts"])
        said = await _ask(
            desk, "mail rule add", {"account": "q", "match": "subject:newsletter", "mute": True}
        )
        assert "not posted (muted)" in said
        dovecot.append(mail_user, _mail("Weekly NEWSLETTER 12", SUPPORT), folder="Sent")
        dovecot.append(mail_user, _mail("real question", SUPPORT), folder="Sent")
        await _ask(desk, "mail check", {"account": "q"})
        assert [p["embeds"][0]["title"] for p in await desk.posts(1)] == ["real question"]
        assert "0 new messages" in await _ask(desk, "mail check", {"account": "q"})
        assert len(desk.double.find("POST", CHANNEL_POSTS)) == 1


async def test_numbers_close_up_after_a_removal(desk, mail_user):
    """Remove rule 2 of 3: the third becomes 2 (and decides as 2); a missing number is
    refused; a member without Manage Server cannot touch rules."""
    async with desk.running():
        await desk.add_account(mail_user, name="n", folders="Sent")
        for match in ("from:one", "from:two", "from:three"):
            await _ask(desk, "mail rule add", {"account": "n", "match": match, "mute": True})
        said = await _ask(desk, "mail rule remove", {"account": "n", "number": 2})
        assert "Removed rule 2 of `n` (from:two)" in said
        assert "now numbered 1 to 2" in said
        listed = await _ask(desk, "mail rule list", {"account": "n"})
        assert "**1.** from:one" in listed and "**2.** from:three" in listed
        assert "two" not in listed and "**3.**" not in listed
        refused = await _ask(desk, "mail rule remove", {"account": "n", "number": 3})
        assert "has no rule 3; it has rules 1 to 2" in refused
        assert _scalar(desk, "select count(*) from routing_rule") == 2
        denied = await _ask(
            desk, "mail rule remove", {"account": "n", "number": 1}, user_id=desk.double.member_id
        )
        assert "Manage Server" in denied
        assert _scalar(desk, "select count(*) from routing_rule") == 2


BAD = [
    ("cc:boss", "Unknown field `cc:`"),
    ("from:", "`from:` has an empty value"),
    ('subject:"big order', "Unclosed double quote"),
    ("subject:" + "x" * 320, "`match` is too long"),
    ("just words", "`just` is not a term"),
]


async def test_bad_rules_are_refused_and_nothing_is_saved(desk, mail_user):
    """Each bad match (and a rule that does nothing, or mutes and routes) gets an error
    naming the problem; no rule is stored. The 51st rule is refused too."""
    async with desk.running():
        await desk.add_account(mail_user, name="b", folders="Sent")
        for match, problem in BAD:
            said = await _ask(desk, "mail rule add", {"account": "b", "match": match, "mute": True})
            assert problem in said and "Nothing was saved" in said, said
        said = await _ask(desk, "mail rule add", {"account": "b", "match": "from:x"})
        assert "Say what the rule does" in said
        said = await _ask(
            desk,
            "mail rule add",
            {"account": "b", "match": "from:x", "mute": True, "channel": desk.chan["support"]},
        )
        assert "A muted rule posts nothing" in said
        assert _scalar(desk, "select count(*) from routing_rule") == 0
        for i in range(50):
            await _ask(desk, "mail rule add", {"account": "b", "match": f"from:u{i}", "mute": True})
        said = await _ask(desk, "mail rule add", {"account": "b", "match": "from:z", "mute": True})
        assert "has 50 rules, the most an account may have" in said
        assert _scalar(desk, "select count(*) from routing_rule") == 50


async def test_refused_rule_channel_is_held_and_shown(desk, dovecot, mail_user):
    """Discord refuses the rule's channel (403): that rule's alerts are held (no retry
    loop) and /mail rule list says so, while the account's channel keeps flowing; removing
    the rule sends the held alert to the account's channel."""
    d = desk.double
    locked = desk.chan["locked"]
    async with desk.running():
        await desk.add_account(mail_user, name="h", folders="Sent", channel=desk.chan["alerts"])
        await _ask(
            desk, "mail rule add", {"account": "h", "match": "to:billing@", "channel": locked}
        )
        d.set_status("POST", rf"/channels/{locked}/messages$", 403)
        dovecot.append(mail_user, _mail("held invoice", BILLING), folder="Sent")
        await _ask(desk, "mail check", {"account": "h"})
        await d.wait_for(method="POST", path=CHANNEL_POSTS, status=403)
        await until(lambda: _scalar(desk, "select channel_broken from routing_rule"))
        assert _scalar(desk, "select channel_broken from account") is None
        listed = await _ask(desk, "mail rule list", {"account": "h"})
        assert "held: Discord refused posting" in listed and "1 alert waits" in listed
        dovecot.append(mail_user, _mail("still flowing", SUPPORT), folder="Sent")
        await _ask(desk, "mail check", {"account": "h"})
        await d.wait_for(method="POST", path=rf"/channels/{desk.chan['alerts']}/messages$")
        assert _titles(desk, "alerts") == ["still flowing"]
        assert len(d.find("POST", CHANNEL_POSTS, status=403)) == 1  # held, not retried
        said = await _ask(desk, "mail rule remove", {"account": "h", "number": 1})
        assert f"1 alert held for its channel goes to <#{desk.chan['alerts']}>" in said
        await until(lambda: len(_titles(desk, "alerts")) == 2)
        assert _titles(desk, "alerts") == ["still flowing", "held invoice"]
