"""End to end, action buttons on alerts (SPEC section 8): each press changes the real
Dovecot mailbox and edits the alert in place; refusals are ephemeral and change nothing;
buttons work after a restart; forged ids and stale UIDs are refused."""

from __future__ import annotations

from typing import Any

import pytest

from storage import repo
from tests.imap_hosts import flags_of, subjects
from tests.plugins.dovecot import BASIC_HOST, make_message
from tests.plugins.mailsync import until

TRIAGE = ["Mark read", "Flag", "Archive", "Trash"]


def status(message: dict[str, Any]) -> str | None:
    fields = message["embeds"][0].get("fields") or []
    return next((f["value"] for f in fields if f["name"] == "Status"), None)


async def alert(harness, subject: str, timeout: float = 20.0) -> dict[str, Any]:
    """The stored alert message titled `subject` once it is posted and its outbox row
    settled (the live alert knows its message id from then on)."""

    def find():
        for m in harness.double.messages_in(harness.double.channel_id):
            if m.get("embeds") and m["embeds"][0].get("title") == subject:
                return m
        return None

    found = await until(find, timeout)
    await harness.posts(timeout=timeout)
    return found


async def shown(harness, message_id: int, needle: str, timeout: float = 20.0) -> dict:
    """Wait until the alert's status line contains `needle`."""

    def find():
        m = harness.double.message(message_id)
        return m if m and needle in (status(m) or "") else None

    try:
        return await until(find, timeout)
    except TimeoutError:
        now = harness.double.message(message_id)
        raise AssertionError(f"status never showed {needle!r}: {now}") from None


async def ask(harness, command: str, options: dict, **kw) -> str:
    return await harness.reply_text(await harness.command(command, options, **kw))


async def start(harness, user, name: str = "desk", mode: str = "triage", **add) -> int:
    _, reply = await harness.add_account(user, name=name, **add)
    assert "Watching" in reply, reply
    said = await ask(harness, "mail edit", {"account": name, "actions": mode})
    assert f"actions `{mode}`" in said, said
    await harness.settled()  # a poll that read the account before the edit ends first
    return harness.account_id(name)


async def press(harness, message_id: int, label: str, user_id: int | None = None) -> dict:
    """Press and wait for the answer: the edit of the alert, or an ephemeral line."""
    d = harness.double
    handle = await d.press(message_id, user_id or d.admin_id, label=label)
    await until(
        lambda: (
            [r for r in handle.replies if r["kind"] in ("edit", "followup")]
            or [r for r in handle.replies if r["kind"] == "callback" and r["type"] == 4]
        )
    )
    return handle


def ephemeral(handle) -> str | None:
    for r in handle.replies:
        body = r["body"] or {}
        data = body.get("data", body)
        if (r["kind"] == "followup" or r["type"] == 4) and data.get("flags", 0) & 64:
            return data.get("content")
    return None


@pytest.mark.any_server
async def test_read_and_flag_buttons_change_the_mailbox_and_edit_the_alert(
    harness, mail_server, mail_user
):
    """Mark read, Flag, Unflag, Mark unread: each sets the flag on the server (seen by
    another client) and edits the alert in place with who did it and the buttons left."""
    async with harness.running():
        account_id = await start(harness, mail_user)
        await until(lambda: harness.watcher.pushed(account_id))
        uid = mail_server.append(mail_user, make_message(subject="invoice 7"))
        message = await alert(harness, "invoice 7")
        mid = int(message["id"])
        assert harness.double.button_labels(mid) == TRIAGE
        admin = harness.double.admin_id
        steps = [
            ("Mark read", {b"\\Seen"}, f"Read by <@{admin}>", ["Mark unread", "Flag"]),
            ("Flag", {b"\\Seen", b"\\Flagged"}, "Flagged by", ["Mark unread", "Unflag"]),
            ("Unflag", {b"\\Seen"}, "Unflagged by", ["Mark unread", "Flag"]),
            ("Mark unread", set(), "Marked unread by", ["Mark read", "Flag"]),
        ]
        for label, flags, line, buttons in steps:
            handle = await press(harness, mid, label)
            assert ephemeral(handle) is None, ephemeral(handle)
            assert [(r["kind"], r["type"]) for r in handle.replies][:2] == [
                ("callback", 6),
                ("edit", None),
            ]
            assert flags_of(mail_server, mail_user, "INBOX", uid) == flags
            assert line in status(harness.double.message(mid))
            assert harness.double.button_labels(mid) == [*buttons, "Archive", "Trash"]
            edit = next(r for r in handle.replies if r["kind"] == "edit")
            assert edit["body"]["allowed_mentions"] == {"parse": []}
        assert harness.double.message(mid)["embeds"][0]["title"] == "invoice 7"


@pytest.mark.any_server(requires=("special_use",))
async def test_archive_moves_to_the_special_use_folder_and_trash_to_trash(
    harness, mail_server, mail_user
):
    """Archive moves the message to the folder marked \\Archive (named Archives here), Trash
    to Trash; the alerts say who did it and keep no buttons."""
    async with harness.running():
        account_id = await start(harness, mail_user)
        await until(lambda: harness.watcher.pushed(account_id))
        mail_server.append(mail_user, make_message(subject="keep this"))
        kept = int((await alert(harness, "keep this"))["id"])
        mail_server.append(mail_user, make_message(subject="spam offer"))
        binned = int((await alert(harness, "spam offer"))["id"])
        await press(harness, kept, "Archive")
        await press(harness, binned, "Trash")
        assert subjects(mail_server, mail_user, mail_server.folder("Archives")) == ["keep this"]
        assert subjects(mail_server, mail_user, mail_server.folder("Trash")) == ["spam offer"]
        assert subjects(mail_server, mail_user, "INBOX") == []
        admin = harness.double.admin_id
        assert status(harness.double.message(kept)) == f"Archived by <@{admin}>"
        assert status(harness.double.message(binned)) == f"Moved to Trash by <@{admin}>"
        assert harness.double.buttons(kept) == harness.double.buttons(binned) == []


@pytest.mark.any_server
async def test_member_without_the_right_is_refused_and_actions_role_allows(
    harness, mail_server, mail_user
):
    """A member without Manage Server gets an ephemeral refusal and the mailbox stays as
    it was; after /mail edit actions_role, a member with that role may press."""
    async with harness.running():
        d = harness.double
        account_id = await start(harness, mail_user, mode="read")
        await until(lambda: harness.watcher.pushed(account_id))
        uid = mail_server.append(mail_user, make_message(subject="for the team"))
        mid = int((await alert(harness, "for the team"))["id"])
        assert d.button_labels(mid) == ["Mark read"]
        handle = await press(harness, mid, "Mark read", user_id=d.member_id)
        assert "Manage Server" in ephemeral(handle)
        assert "Nothing was changed" in ephemeral(handle)
        assert flags_of(mail_server, mail_user, "INBOX", uid) == set()
        assert status(d.message(mid)) is None
        role = await d.add_role(d.guild_id, "Inbox team")
        alice = await d.add_member(d.guild_id, "alice", [role.id])
        said = await ask(harness, "mail edit", {"account": "desk", "actions_role": role.id})
        assert f"<@&{role.id}>" in said
        handle = await press(harness, mid, "Mark read", user_id=alice.user_id)
        assert ephemeral(handle) is None
        assert flags_of(mail_server, mail_user, "INBOX", uid) == {b"\\Seen"}
        assert status(d.message(mid)) == f"Read by <@{alice.user_id}>"
        handle = await press(harness, mid, "Mark unread", user_id=d.member_id)
        assert "<@&" in ephemeral(handle)  # names the role that may press
        assert flags_of(mail_server, mail_user, "INBOX", uid) == {b"\\Seen"}


@pytest.mark.any_server
async def test_a_button_works_after_a_restart(harness, mail_server, mail_user):
    """An alert posted by one bot process is pressed after a restart (no view in memory)."""
    async with harness.running():
        account_id = await start(harness, mail_user)
        await until(lambda: harness.watcher.pushed(account_id))
        uid = mail_server.append(mail_user, make_message(subject="before restart"))
        mid = int((await alert(harness, "before restart"))["id"])
        await harness.posts()
    async with harness.running():
        # The first polls after a start run a two-way check; a press that lands inside one
        # may be attributed to "another mail client" (a known race, see the closing note):
        # this test is about the press itself, so it presses once they are done.
        await harness.settled()
        handle = await press(harness, mid, "Flag")
        assert ephemeral(handle) is None
        assert flags_of(mail_server, mail_user, "INBOX", uid) == {b"\\Flagged"}
        assert "Flagged by" in status(harness.double.message(mid))


@pytest.mark.any_server(requires=("pop3",))
async def test_pop3_accounts_cannot_have_buttons(harness, mail_server, mail_user):
    """actions on a POP3 account is refused with the reason, and nothing is saved."""
    async with harness.running():
        await harness.add_account(
            mail_user, name="pop", protocol="pop3", port=mail_server.pop3s_port
        )
        said = await ask(harness, "mail edit", {"account": "pop", "actions": "read"})
        assert "POP3" in said and "cannot mark it read" in said
        account_id = harness.account_id("pop")
        assert repo.get_account(harness.bot.engine, account_id).actions == "off"


async def test_archive_without_move_copies_and_expunges(harness, dovecot, mail_user):
    """On a server without MOVE (BASIC_HOST: COPY, \\Deleted, UID EXPUNGE) Archive still
    moves the message, end to end."""
    async with harness.running():
        await start(
            harness,
            mail_user,
            host=BASIC_HOST,
            port=dovecot.imap_port,
            security="none",
        )
        dovecot.append(mail_user, make_message(subject="old style"))
        mid = int((await alert(harness, "old style", timeout=30))["id"])
        handle = await press(harness, mid, "Archive")
        assert ephemeral(handle) is None, ephemeral(handle)
        assert subjects(dovecot, mail_user, "Archives") == ["old style"]
        assert subjects(dovecot, mail_user, "INBOX") == []
        assert "Archived by" in status(harness.double.message(mid))


@pytest.mark.any_server(requires=("move",))
async def test_changes_in_another_mail_client_edit_the_alert(harness, mail_server, mail_user):
    """Two-way, pushed INBOX: a flag and a read set by another IMAP client edit the alert
    (buttons follow); moving the message away shows it as moved or deleted, no buttons."""
    async with harness.running():
        account_id = await start(harness, mail_user)
        await until(lambda: harness.watcher.pushed(account_id))
        uid = mail_server.append(mail_user, make_message(subject="watched"))
        mid = int((await alert(harness, "watched"))["id"])
        with mail_server.imap(mail_user) as client:
            client.select_folder("INBOX")
            client.add_flags([uid], [b"\\Flagged", b"\\Seen"])
        await shown(harness, mid, "Read and flagged in another mail client")
        assert harness.double.button_labels(mid) == ["Mark unread", "Unflag", "Archive", "Trash"]
        with mail_server.imap(mail_user) as client:
            client.select_folder("INBOX")
            client.move([uid], mail_server.folder("Archives"))
        await shown(harness, mid, "Moved or deleted in another mail client")
        assert harness.double.buttons(mid) == []
        handle_edits = harness.double.find("PATCH", rf"/messages/{mid}$")
        assert handle_edits and all(
            r.json["allowed_mentions"] == {"parse": []} for r in handle_edits
        )


@pytest.mark.any_server(requires=("condstore",))
async def test_parked_folder_changes_reach_the_alert_through_the_sweep(
    harness, mail_server, mail_user
):
    """Two-way, a folder polled at the interval (parked session): the sweep's STATUS asks
    HIGHESTMODSEQ, so a flag set elsewhere brings a poll that edits the alert; an expunge
    shows the message as gone. A quiet sweep brings no poll."""
    mail_server.create_folder(mail_user, "Work")
    async with harness.running():
        account_id = await start(harness, mail_user, folders=mail_server.folder("Work"))
        watcher = harness.watcher

        async def sweep() -> None:
            watcher.due_now(account_id)
            await watcher.sweep()
            await harness.settled()

        await sweep()  # the first poll opens the session, parked between polls
        assert watcher.sessions.has(account_id)
        uid = mail_server.append(mail_user, make_message(subject="work item"), folder="Work")
        await sweep()
        mid = int((await alert(harness, "work item"))["id"])
        polls = watcher.metrics.polls.labels("imap")._value.get()
        await sweep()
        assert watcher.metrics.polls.labels("imap")._value.get() == polls  # quiet: no poll
        with mail_server.imap(mail_user) as client:
            client.select_folder(mail_server.folder("Work"))
            client.add_flags([uid], [b"\\Flagged"])
        await sweep()
        await shown(harness, mid, "Flagged in another mail client")
        assert harness.double.button_labels(mid) == ["Mark read", "Unflag", "Archive", "Trash"]
        with mail_server.imap(mail_user) as client:
            client.select_folder(mail_server.folder("Work"))
            client.add_flags([uid], [b"\\Deleted"])
            client.expunge()
        await sweep()
        await shown(harness, mid, "Moved or deleted in another mail client")
        assert harness.double.buttons(mid) == []


@pytest.mark.any_server
async def test_a_renumbered_folder_makes_old_buttons_answer_clearly(
    harness, mail_server, mail_user
):
    """UIDVALIDITY reset (the folder deleted and made again): the old alert's button is
    refused with the reason, and the new message that got the same UID is left alone."""
    mail_server.create_folder(mail_user, "Work")
    async with harness.running():
        account_id = await start(harness, mail_user, folders=mail_server.folder("Work"))
        watcher = harness.watcher
        uid = mail_server.append(mail_user, make_message(subject="first life"), folder="Work")
        watcher.due_now(account_id)
        await watcher.sweep()
        mid = int((await alert(harness, "first life"))["id"])
        mail_server.delete_folder(mail_user, "Work")
        mail_server.create_folder(mail_user, "Work")
        again = mail_server.append(mail_user, make_message(subject="second life"), folder="Work")
        assert again == uid  # the old alert's UID now names another message
        handle = await press(harness, mid, "Mark read")
        assert "renumbered" in ephemeral(handle) and "Nothing was changed" in ephemeral(handle)
        assert flags_of(mail_server, mail_user, mail_server.folder("Work"), again) == set()
        await shown(harness, mid, "renumbered")
        assert harness.double.buttons(mid) == []


@pytest.mark.any_server
async def test_forged_button_ids_are_refused(harness, mail_server, mail_user):
    """Ids are input: another message's UID, another account, a malformed id, all get an
    ephemeral refusal and no mailbox change."""
    async with harness.running():
        d = harness.double
        account_id = await start(harness, mail_user)
        await until(lambda: harness.watcher.pushed(account_id))
        first = mail_server.append(mail_user, make_message(subject="one"))
        mid = int((await alert(harness, "one"))["id"])
        second = mail_server.append(mail_user, make_message(subject="two"))
        await alert(harness, "two")
        real = d.buttons(mid)[0]["custom_id"]
        prefix, _uid = real.rsplit(":", 1)
        _p, _a, _act, acct, _rest = real.split(":", 4)
        forged = {
            f"{prefix}:{second}": "does not belong to this alert",
            real.replace(f":{acct}:", f":{int(acct) + 40}:", 1): "no longer exists here",
            "mailsync:a1:read:0:1:1:1": "not a button this bot made",
            "mailsync:a1:read:1:2:3:99999999999": "not a button this bot made",
        }
        for custom_id, why in forged.items():
            d.message(mid)["components"][0]["components"][0]["custom_id"] = custom_id
            handle = await d.press(mid, d.admin_id, custom_id=custom_id)
            reply = await handle.wait_for_reply()
            assert reply["type"] == 4 and reply["body"]["data"]["flags"] & 64
            assert why in reply["body"]["data"]["content"], (custom_id, reply)
        assert flags_of(mail_server, mail_user, "INBOX", first) == set()
        assert flags_of(mail_server, mail_user, "INBOX", second) == set()
