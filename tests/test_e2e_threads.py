"""End to end, /mail edit threads: replies (In-Reply-To / References naming an alerted
message) go into a thread on the first alert in a text channel, or into the same post in a
forum channel; threads off, unknown parents, POP3, and a deleted thread or first alert."""

import logging

import pytest

from tests.plugins.discord_double import ChannelSpec
from tests.plugins.dovecot import make_message
from tests.plugins.mailsync import until

NO_PINGS = {"parse": []}


def _mail(subject, message_id, reply_to=None, references=()):
    """A message whose reply headers are put before the ones make_message writes."""
    head = f"In-Reply-To: {reply_to}\r\n" if reply_to else ""
    if references:
        head += f"References: {' '.join(references)}\r\n"
    return head.encode() + make_message(subject=subject, message_id=message_id)


async def _ask(harness, name, options):
    return await harness.reply_text(await harness.command(name, options))


async def _deliver(harness, user, raw, account):
    """Append, poll now, and wait until the alert is posted (anywhere: channels or
    threads; an IDLE push may have polled first) and nothing polls or waits to be sent.
    A poll already running read the account before the test's last /mail edit (threads
    on), so it ends first: the mail is meant for the settings as they are now."""
    await harness.settled()
    before = _all_posts(harness.double)
    harness.server.append(user, raw)
    await _ask(harness, "mail check", {"account": account})
    await until(lambda: _all_posts(harness.double) > before)
    await harness.settled()


def _all_posts(double):
    channels = [c.id for c in double.guild.channels] + [int(t["id"]) for t in double.threads()]
    return sum(len(_posts(double, c)) for c in channels)


def _posts(double, channel_id):
    """The bot's own messages in a channel or thread (not interaction replies)."""
    return [m for m in double.messages_in(channel_id) if "webhook_id" not in m]


def _title(message):
    return message["embeds"][0]["title"].replace("\\", "")  # alerts escape markdown


@pytest.mark.any_server
async def test_replies_go_into_a_thread_on_the_first_alert(harness, mail_server, mail_user):
    """The first reply starts a thread on the conversation's first alert, named with its
    subject; a reply to the reply lands in the same thread; a reply whose parent was never
    alerted posts in the channel. Mentions stay locked down in the thread."""
    d = harness.double
    async with harness.running():
        await harness.add_account(mail_user, name="t")
        said = await _ask(harness, "mail edit", {"account": "t", "threads": "on"})
        assert "thread" in said
        await _deliver(harness, mail_user, _mail("Plans", "<root@x>"), "t")
        (first,) = _posts(d, d.channel_id)
        assert _title(first) == "Plans" and d.thread_of(int(first["id"])) is None

        reply = _mail("Re: Plans", "<r1@x>", "<root@x>", ["<root@x>"])
        await _deliver(harness, mail_user, reply, "t")
        thread = d.thread_of(int(first["id"]))
        assert thread is not None and thread["name"] == "Plans"
        assert [_title(m) for m in _posts(d, int(thread["id"]))] == ["Re: Plans"]

        again = _mail("Re: Re: Plans", "<r2@x>", "<r1@x>", ["<root@x>", "<r1@x>"])
        await _deliver(harness, mail_user, again, "t")
        assert [_title(m) for m in _posts(d, int(thread["id"]))] == ["Re: Plans", "Re: Re: Plans"]
        assert len(d.threads(d.channel_id)) == 1
        assert all(b["allowed_mentions"] == NO_PINGS for b in d.channel_messages(thread["id"]))

        stray = _mail("Re: something older", "<r9@x>", "<never@x>", ["<never@x>"])
        await _deliver(harness, mail_user, stray, "t")
        assert [_title(m) for m in _posts(d, d.channel_id)] == ["Plans", "Re: something older"]
        assert len(d.threads(d.channel_id)) == 1


@pytest.mark.any_server
async def test_threads_off_posts_replies_in_the_channel(harness, mail_server, mail_user):
    """The default: a reply to an alerted message is an alert of its own in the channel."""
    d = harness.double
    async with harness.running():
        await harness.add_account(mail_user, name="plain")
        await _deliver(harness, mail_user, _mail("Plans", "<root@x>"), "plain")
        reply = _mail("Re: Plans", "<r1@x>", "<root@x>", ["<root@x>"])
        await _deliver(harness, mail_user, reply, "plain")
        assert [_title(m) for m in _posts(d, d.channel_id)] == ["Plans", "Re: Plans"]
        assert d.threads() == []


@pytest.mark.any_server
async def test_a_forum_gets_a_post_per_conversation(harness, mail_server, mail_user):
    """A forum needs threads on (the edit says so and changes nothing); then each new
    conversation opens a post titled with its subject, a reply lands in the same post,
    and the role mention is the only one allowed."""
    d = harness.double
    forum = ChannelSpec(name="inbox", type=15)
    d.guild.channels.append(forum)
    role = next(r for r in d.guild.roles if r.name == "Mail Watchers")
    async with harness.running():
        await harness.add_account(mail_user, name="f")
        refused = await _ask(harness, "mail edit", {"account": "f", "channel": forum.id})
        assert "forum" in refused and "threads: on" in refused
        options = {"account": "f", "channel": forum.id, "threads": "on", "mention": role.id}
        assert "thread" in await _ask(harness, "mail edit", options)

        await _deliver(harness, mail_user, _mail("Quarterly numbers", "<q1@x>"), "f")
        (post,) = d.threads(forum.id)
        assert post["name"] == "Quarterly numbers"
        reply = _mail("Re: Quarterly numbers", "<q2@x>", "<q1@x>", ["<q1@x>"])
        await _deliver(harness, mail_user, reply, "f")
        await _deliver(harness, mail_user, _mail("Office party", "<p1@x>"), "f")

        first, second = d.threads(forum.id)
        assert (first["id"], second["name"]) == (post["id"], "Office party")
        titles = [_title(m) for m in _posts(d, int(post["id"]))]
        assert titles == ["Quarterly numbers", "Re: Quarterly numbers"]
        for body in d.channel_messages(int(post["id"])):  # the post's first message and the reply
            assert body["allowed_mentions"]["parse"] == []
            assert [int(r) for r in body["allowed_mentions"]["roles"]] == [role.id]
        assert d.channel_messages(forum.id) == []  # nothing was posted to the forum itself
        refused = await _ask(harness, "mail edit", {"account": "f", "threads": "off"})
        assert "forum" in refused and "Nothing was changed" in refused


@pytest.mark.any_server(requires=("pop3",))
async def test_a_pop3_reply_is_threaded(harness, mail_server, mail_user):
    """POP3 keeps In-Reply-To and References in its archive: the reply goes into a thread
    on the first alert."""
    d = harness.double
    async with harness.running():
        options = {"protocol": "pop3", "port": mail_server.pop3s_port, "name": "pop"}
        await harness.add_account(mail_user, **options)
        await _ask(harness, "mail edit", {"account": "pop", "threads": "on"})
        await _deliver(harness, mail_user, _mail("Invoice 7", "<i7@x>"), "pop")
        (first,) = _posts(d, d.channel_id)
        reply = _mail("Re: Invoice 7", "<i8@x>", "<i7@x>", ["<i7@x>"])
        await _deliver(harness, mail_user, reply, "pop")
        thread = d.thread_of(int(first["id"]))
        assert thread is not None and thread["name"] == "Invoice 7"
        assert [_title(m) for m in _posts(d, int(thread["id"]))] == ["Re: Invoice 7"]
        assert len(_posts(d, d.channel_id)) == 1


@pytest.mark.any_server
async def test_a_deleted_thread_or_first_alert_sends_the_reply_to_the_channel(
    harness, mail_server, mail_user, caplog
):
    """The thread was deleted: the next reply posts in the channel (the log says so) and
    the conversation continues from it. The first alert was deleted before any reply:
    the reply posts in the channel too."""
    caplog.set_level(logging.WARNING, logger="cogs._threads")
    d = harness.double
    async with harness.running():
        await harness.add_account(mail_user, name="t")
        await _ask(harness, "mail edit", {"account": "t", "threads": "on"})
        await _deliver(harness, mail_user, _mail("Plans", "<root@x>"), "t")
        (first,) = _posts(d, d.channel_id)
        await _deliver(harness, mail_user, _mail("Re: Plans", "<r1@x>", "<root@x>"), "t")
        thread = await until(lambda: d.thread_of(int(first["id"])))
        await d.delete_thread(int(thread["id"]))

        await _deliver(harness, mail_user, _mail("Re: Re: Plans", "<r2@x>", "<r1@x>"), "t")
        assert [_title(m) for m in _posts(d, d.channel_id)] == ["Plans", "Re: Re: Plans"]
        assert "gone or refused" in caplog.text
        restarted = _posts(d, d.channel_id)[1]
        await _deliver(harness, mail_user, _mail("Re: Plans (3)", "<r3@x>", "<root@x>"), "t")
        moved = d.thread_of(int(restarted["id"]))
        assert moved is not None and moved["name"] == "Plans"
        assert [_title(m) for m in _posts(d, int(moved["id"]))] == ["Re: Plans (3)"]

        await _deliver(harness, mail_user, _mail("Lunch", "<l1@x>"), "t")
        lunch = _posts(d, d.channel_id)[-1]
        assert d.remove_message(int(lunch["id"]))
        await _deliver(harness, mail_user, _mail("Re: Lunch", "<l2@x>", "<l1@x>"), "t")
        assert _title(_posts(d, d.channel_id)[-1]) == "Re: Lunch"
        assert d.thread_of(int(lunch["id"])) is None


@pytest.mark.any_server
async def test_a_reply_routed_to_another_channel_posts_there_normally(harness, mail_user):
    """A routing rule sends a reply to another channel: it is an ordinary alert there; a
    reply that stays in its parent's channel still goes into the parent's thread."""
    d = harness.double
    general = next(c.id for c in d.guild.channels if c.name == "general")
    async with harness.running():
        await harness.add_account(mail_user, name="t")
        await _ask(harness, "mail edit", {"account": "t", "threads": "on"})
        rule = {"account": "t", "match": "subject:invoice", "channel": general}
        await _ask(harness, "mail rule add", rule)
        await _deliver(harness, mail_user, _mail("Plans", "<root@x>"), "t")
        (first,) = _posts(d, d.channel_id)
        routed = _mail("Re: Plans and the invoice", "<r1@x>", "<root@x>")
        await _deliver(harness, mail_user, routed, "t")
        assert [_title(m) for m in _posts(d, general)] == ["Re: Plans and the invoice"]
        assert d.threads() == []
        await _deliver(
            harness, mail_user, _mail("Re: Plans", "<r2@x>", "<r1@x>", ["<root@x>"]), "t"
        )
        thread = d.thread_of(int(first["id"]))
        assert thread is not None
        assert [_title(m) for m in _posts(d, int(thread["id"]))] == ["Re: Plans"]
        assert d.threads(general) == []


@pytest.mark.any_server
async def test_a_thread_someone_already_started_is_reused(harness, mail_user):
    """A member started a thread on the first alert before any reply came: Discord refuses
    a second one (160004) and the reply goes into the member's thread."""
    d = harness.double
    async with harness.running() as bot:
        await harness.add_account(mail_user, name="t")
        await _ask(harness, "mail edit", {"account": "t", "threads": "on"})
        await _deliver(harness, mail_user, _mail("Plans", "<root@x>"), "t")
        (first,) = _posts(d, d.channel_id)
        alert = bot.get_channel(d.channel_id).get_partial_message(int(first["id"]))
        await alert.create_thread(name="Members' talk")  # as a member would, over REST
        await _deliver(harness, mail_user, _mail("Re: Plans", "<r1@x>", "<root@x>"), "t")
        (thread,) = d.threads(d.channel_id)
        assert thread["name"] == "Members' talk"
        assert [_title(m) for m in _posts(d, int(thread["id"]))] == ["Re: Plans"]
        refused = [r for r in d.requests if r.path.endswith("/threads") and r.status == 400]
        assert len(refused) == 1  # the bot's own try, answered 160004
