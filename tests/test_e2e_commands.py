"""End to end, the command surface and alert delivery: remove, pause, resume, password,
edit, autocomplete, guild isolation, outbox retries, restarts, account health."""

import asyncio
import dataclasses
import time

import pytest
from sqlalchemy import create_engine, text

import bot as bot_module
from mail import net
from storage import outbox
from tests.plugins.discord_double import GuildSpec, RoleSpec
from tests.plugins.dovecot import make_message
from tests.plugins.mailsync import Harness, until

CHANNEL_POSTS = r"/channels/\d+/messages$"


def _scalar(harness, sql):
    engine = create_engine(harness.settings.database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


async def _ask(harness, name, options=None, **kw):
    return await harness.reply_text(await harness.command(name, options or {}, **kw))


async def test_remove_deletes_account_state_and_job(harness, mail_user):
    """/mail remove deletes the account with its secret and state and stops its job."""
    async with harness.running():
        await harness.add_account(mail_user, name="gone")
        assert harness.watcher.scheduled_ids == {harness.account_id("gone")}
        assert "Removed `gone`" in await _ask(harness, "mail remove", {"account": "gone"})
        assert harness.watcher.scheduled_ids == set()
        assert "No mail accounts yet" in await _ask(harness, "mail list")
    for table in ("account", "folder_state", "account_health"):
        assert _scalar(harness, f"select count(*) from {table}") == 0  # noqa: S608


async def test_pause_holds_alerts_and_resume_announces_what_came(harness, dovecot, mail_user):
    """Paused: nothing is posted (push and job stopped); resume announces the waiting mail."""
    async with harness.running():
        await harness.add_account(mail_user, name="p")
        account_id = harness.account_id("p")
        assert "Paused `p`" in await _ask(harness, "mail pause", {"account": "p"})
        assert "paused" in await _ask(harness, "mail list")
        await until(lambda: harness.idle_client(account_id) is None)
        assert await harness.settled() == []  # a poll started before the pause is over
        message = make_message(subject="while paused")
        await asyncio.to_thread(dovecot.append_pushed, mail_user, message)  # bot not told
        assert await harness.settled() == []
        assert harness.watcher.hub.watched == 0
        assert harness.watcher.scheduled_ids == set()
        assert "Resumed `p`" in await _ask(harness, "mail resume", {"account": "p"})
        assert await harness.titles(1) == ["while paused"]


async def test_password_is_verified_before_it_is_saved(harness, dovecot, mail_user):
    """A wrong new password is refused and the old one kept; a right one is saved."""
    async with harness.running():
        await harness.add_account(mail_user, name="pw", folders="Sent")
        before = _scalar(harness, "select password_encrypted from account")
        for password, needle in (("nope", "not saved"), (None, "replaced")):
            if password is None:
                password = "changed-Secret-42"
                dovecot.set_password(mail_user, password)
            handle = await harness.command("mail password", {"account": "pw"})
            await handle.wait_for_modal()
            submit = await harness.double.submit_modal(
                harness.double.guild_id,
                harness.double.channel_id,
                harness.double.admin_id,
                values={"password": password},
            )
            assert needle in await harness.reply_text(submit)
            if needle == "not saved":
                assert _scalar(harness, "select password_encrypted from account") == before
        assert _scalar(harness, "select password_encrypted from account") != before
        dovecot.append(mail_user, make_message(subject="after change"), folder="Sent")
        # Announced once, by this check or by the poll /mail password itself started.
        assert "new message" in await _ask(harness, "mail check", {"account": "pw"})
        assert await harness.titles(1) == ["after change"]


async def test_autocomplete_lists_only_this_guilds_accounts(harness, mail_user, dovecot):
    """Autocomplete offers the guild's own account names, filtered by what was typed."""
    other = dovecot.add_user()
    async with harness.running():
        await harness.add_account(mail_user, name="alpha")
        await harness.add_account(other, name="beta")
        d = harness.double
        choices = await d.autocomplete_choices(
            d.guild_id, d.channel_id, d.admin_id, "mail check", {"account": "AL"}, "account"
        )
        assert [c["value"] for c in choices] == ["alpha"]


async def test_mention_role_is_the_only_allowed_mention(harness, dovecot, mail_user):
    """With `mention`, alerts ping exactly that role; allowed mentions permit nothing else."""
    role = harness.double.guild.roles[1]
    async with harness.running():
        await harness.add_account(mail_user, name="m", folders="Sent")
        reply = await _ask(harness, "mail edit", {"account": "m", "mention": role.id})
        assert f"<@&{role.id}>" in reply
        dovecot.append(mail_user, make_message(subject="@everyone look"), folder="Sent")
        await _ask(harness, "mail check", {"account": "m"})
        post = (await harness.posts(1))[0]
        assert post["content"] == f"<@&{role.id}>"
        assert post["allowed_mentions"] == {"parse": [], "roles": [str(role.id)]} or (
            post["allowed_mentions"]["parse"] == []
            and [int(r) for r in post["allowed_mentions"]["roles"]] == [role.id]
        )
        assert "@everyone" not in post["embeds"][0]["title"]


async def test_discord_429_then_503_delivers_each_alert_once(harness, dovecot, mail_user):
    """Discord answering 429, then 503 twice: the alert arrives exactly once afterwards."""
    async with harness.running():
        await harness.add_account(mail_user, name="r", folders="Sent")
        harness.double.fail_next("POST", CHANNEL_POSTS, statuses=[429, 503, 503])
        dovecot.append(mail_user, make_message(subject="through the storm"), folder="Sent")
        await _ask(harness, "mail check", {"account": "r"})
        assert await harness.titles(1) == ["through the storm"]
        failed = harness.double.find("POST", CHANNEL_POSTS)
        assert [r.status for r in failed] == [429, 503, 503, 200]


async def test_pending_alerts_survive_a_restart(harness, dovecot, mail_user):
    """Alerts queued while Discord fails are posted once after the bot restarts."""
    async with harness.running():
        await harness.add_account(mail_user, name="later", folders="Sent")
        harness.double.set_status("POST", CHANNEL_POSTS, 503)
        dovecot.append(mail_user, make_message(subject="queued"), folder="Sent")
        await _ask(harness, "mail check", {"account": "later"})
        await harness.double.wait_for(method="POST", path=CHANNEL_POSTS, status=503)
    assert _scalar(harness, "select count(*) from outbox where sent_at is null") == 1
    harness.double.clear_status()
    async with harness.running():
        assert await harness.titles(1) == ["queued"]
    assert _scalar(harness, "select count(*) from outbox where sent_at is null") == 0


async def test_forbidden_channel_is_marked_and_edit_moves_alerts(harness, dovecot, mail_user):
    """A 403 marks the channel broken (shown in /mail list, no retry loop); /mail edit
    channel: sends the held alert to the new channel."""
    d = harness.double
    second = d.guild.channels[1].id
    async with harness.running():
        await harness.add_account(mail_user, name="b", folders="Sent")
        d.set_status("POST", rf"/channels/{d.channel_id}/messages$", 403)
        dovecot.append(mail_user, make_message(subject="held"), folder="Sent")
        await _ask(harness, "mail check", {"account": "b"})
        await d.wait_for(method="POST", path=CHANNEL_POSTS, status=403)
        # Once the channel is marked broken nothing of it is due: no retry can follow.
        await until(lambda: _scalar(harness, "select channel_broken from account"))
        assert outbox.next_due_at(harness.bot.engine) is None
        assert len(d.find("POST", CHANNEL_POSTS, status=403)) == 1
        assert "alerts held" in await _ask(harness, "mail list")
        await _ask(harness, "mail edit", {"account": "b", "channel": second})
        await d.wait_for(method="POST", path=rf"/channels/{second}/messages$", status=200)
        assert [p["embeds"][0]["title"] for p in d.channel_messages(second)] == ["held"]


async def test_three_failures_warn_once_and_recovery_is_announced(harness, dovecot, mail_user):
    """Server down: the third failed poll posts one warning (what failed, when it retries),
    later failures post nothing more, and the first good poll posts one recovery notice."""
    async with harness.running():
        await harness.add_account(mail_user, name="h", folders="Sent")
        await asyncio.to_thread(dovecot.stop)
        try:
            for _ in range(4):
                assert "refused the connection" in await _ask(
                    harness, "mail check", {"account": "h"}
                )
            titles = await harness.titles(1)
            assert titles == ["Mail account in trouble"]
            warning = (await harness.posts())[0]["embeds"][0]["description"]
            assert "refused the connection" in warning
            assert "Next try <t:" in warning
            assert "4 in a row" in await _ask(harness, "mail list")
        finally:
            await asyncio.to_thread(dovecot.start)
        assert "0 new messages" in await _ask(harness, "mail check", {"account": "h"})
        assert await harness.titles(2) == ["Mail account in trouble", "Mail account recovered"]


async def test_login_failure_warning_points_to_mail_password(harness, dovecot, mail_user):
    """A password changed on the server: the warning says to use /mail password."""
    async with harness.running():
        await harness.add_account(mail_user, name="l", folders="Sent")
        dovecot.set_password(mail_user, "rotated-elsewhere")
        for _ in range(3):
            assert "refused the login" in await _ask(harness, "mail check", {"account": "l"})
        warning = (await harness.posts(1))[0]["embeds"][0]["description"]
        assert "/mail password" in warning


@pytest.fixture
async def two_guilds(make_discord_double, dovecot, database_url, monkeypatch, secret_key):
    monkeypatch.setenv("SSL_CERT_FILE", dovecot.ca_file)
    net.reset_tls_context()
    double = await make_discord_double(guilds=[GuildSpec(name="A"), GuildSpec(name="B")])
    settings = bot_module.Settings(
        discord_token="fake-token",
        secret_key=secret_key,
        database_url=database_url,
        guild_id=None,
        allow_private_hosts=True,
    )
    yield Harness(double, dovecot, settings)
    net.reset_tls_context()


async def test_guilds_cannot_see_or_touch_each_other(two_guilds, mail_user):
    """Guild B gets 'not found', word for word as for a missing name, on every command
    and an empty autocomplete for guild A's account."""
    h = two_guilds
    a, b = h.double.guilds
    b_ids = {"guild_id": b.id, "channel_id": b.channels[0].id, "user_id": b.members[0].user_id}
    async with h.running():
        await h.add_account(mail_user, name="secret-a")
        missing = await _ask(h, "mail check", {"account": "no-such"}, **b_ids)
        for command, extra in (
            ("mail check", {}),
            ("mail folders", {}),
            ("mail quota", {}),
            ("mail pause", {}),
            ("mail resume", {}),
            ("mail archive", {}),
            ("mail edit", {"interval": 9}),
            ("mail remove", {}),
        ):
            reply = await _ask(h, command, {"account": "secret-a", **extra}, **b_ids)
            assert reply == missing.replace("no-such", "secret-a"), command
        choices = await h.double.autocomplete_choices(
            b.id, b.channels[0].id, b.members[0].user_id, "mail check", {"account": ""}, "account"
        )
        assert choices == []
        assert "No mail accounts yet" in await _ask(h, "mail list", **b_ids)
        assert "secret-a" in await _ask(
            h, "mail list", guild_id=a.id, channel_id=a.channels[0].id, user_id=a.members[0].user_id
        )
    assert _scalar(h, "select interval_minutes from account") == 5


async def test_leaving_a_guild_deletes_its_accounts(harness, mail_user):
    """GUILD_DELETE (bot removed) deletes that guild's accounts, secrets and jobs."""
    async with harness.running():
        await harness.add_account(mail_user, name="bye")
        await harness.double.remove_guild(harness.double.guild_id)
        # on_guild_remove deletes the rows first and unschedules after: wait for the end.
        await until(lambda: not harness.watcher.scheduled_ids, timeout=10)
        assert _scalar(harness, "select count(*) from account") == 0


def test_role_spec_is_importable():
    """The double exposes RoleSpec for tests that need custom roles."""
    assert dataclasses.is_dataclass(RoleSpec)


async def test_account_limit_per_guild_is_enforced(harness, dovecot):
    """With a limit of 2 accounts per server, a third /mail add is refused before the modal."""
    harness.settings = dataclasses.replace(harness.settings, max_accounts_per_guild=2)
    async with harness.running():
        for name in ("one", "two"):
            await harness.add_account(dovecot.add_user(), name=name)
        third = await harness.command("mail add", harness.add_options(dovecot.add_user()))
        assert "already has 2 mail accounts" in await harness.reply_text(third)
        assert third.modal is None
    assert _scalar(harness, "select count(*) from account") == 2


async def test_wrong_secret_key_reports_once_and_never_crashes(harness, mail_user):
    """Restarted with a key that cannot decrypt the stored password: polls fail with a line
    naming MAILSYNC_SECRET_KEY, one warning is posted, the bot keeps running."""
    from cryptography.fernet import Fernet

    async with harness.running():
        await harness.add_account(mail_user, name="k", folders="Sent")
    harness.settings = dataclasses.replace(
        harness.settings, secret_key=Fernet.generate_key().decode()
    )
    async with harness.running():
        for _ in range(4):
            reply = await _ask(harness, "mail check", {"account": "k"})
            assert "MAILSYNC_SECRET_KEY" in reply
        assert await harness.titles(1) == ["Mail account in trouble"]
        assert "/mail password" in (await harness.posts())[0]["embeds"][0]["description"]
        assert "No mail accounts yet" not in await _ask(harness, "mail list")


async def test_stale_password_form_cannot_reach_a_reused_account_id(harness, dovecot):
    """A /mail password form opened for an account that is then removed does nothing, even
    when a new account has taken the removed one's id (SQLite reuses the highest id)."""
    async with harness.running():
        # Sent, not INBOX: no IDLE push, so no background poll races the removal.
        await harness.add_account(dovecot.add_user(), name="old", folders="Sent")
        handle = await harness.command("mail password", {"account": "old"})
        modal = await handle.wait_for_modal()
        await _ask(harness, "mail remove", {"account": "old"})
        await harness.add_account(dovecot.add_user(), name="new", folders="Sent")
        before = _scalar(harness, "select password_encrypted from account")
        submit = await harness.double.submit_modal(
            harness.double.guild_id,
            harness.double.channel_id,
            harness.double.admin_id,
            custom_id=modal["custom_id"],
            values={"password": "hijack"},
        )
        assert "No account named `old`" in await harness.reply_text(submit)
        assert _scalar(harness, "select password_encrypted from account") == before


async def test_pause_during_a_poll_leaves_no_connection(harness, dovecot, mail_user, monkeypatch):
    """/mail pause while the poll started by /mail add still reads the store: once that
    poll ends, the paused account holds no connection (none idling in the hub, none on
    the server)."""
    from storage import repo

    slow = repo.folder_states

    def delayed(*args, **kwargs):
        time.sleep(1.0)  # the store is slow (it was PostgreSQL under load in the flake)
        return slow(*args, **kwargs)

    monkeypatch.setattr(repo, "folder_states", delayed)
    async with harness.running():
        await harness.add_account(mail_user, name="race")
        account_id = harness.account_id("race")
        assert "Paused `race`" in await _ask(harness, "mail pause", {"account": "race"})
        await until(lambda: account_id not in harness.watcher._again)  # that poll is over
        assert harness.watcher.hub.watched == 0
        assert not harness.watcher.sessions.has(account_id)
        await until(lambda: dovecot.imap_sessions(mail_user.name) == 0)
