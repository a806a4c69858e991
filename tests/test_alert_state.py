"""Pure parts of live alerts: which buttons still make sense, the status line, and how a
two-way check's answer becomes stored changes."""

import pytest

from cogs._alert_buttons import actions_for, alert_embed, status_line
from mail.actions import Action
from mail.changes import FolderChanges, MessageFlags
from storage.live_alerts import GONE, Change, TrackedFolder
from storage.models import LiveAlert
from watch.two_way import Checked, client_event, stored_changes


def live(**kw) -> LiveAlert:
    base = {"id": 1, "account_id": 1, "folder_id": 2, "uidvalidity": 3, "uid": 4}
    return LiveAlert(outbox_id=1, channel_id=1, **(base | kw))


@pytest.mark.parametrize(
    ("mode", "kw", "expected"),
    [
        ("off", {}, []),
        ("read", {}, [Action.READ]),
        ("read", {"seen": True}, [Action.UNREAD]),
        ("triage", {}, [Action.READ, Action.FLAG, Action.ARCHIVE, Action.TRASH]),
        (
            "triage",
            {"seen": True, "flagged": True},
            [Action.UNREAD, Action.UNFLAG, Action.ARCHIVE, Action.TRASH],
        ),
        ("triage", {"state": "moved"}, []),
        ("triage", {"state": "gone"}, []),
    ],
)
def test_buttons_that_still_make_sense(mode, kw, expected):
    assert actions_for(mode, live(**kw)) == expected


@pytest.mark.parametrize(
    ("event", "by", "line"),
    [
        (None, None, None),
        ("read", 5, "Read by <@5>"),
        ("trash", 5, "Moved to Trash by <@5>"),
        ("archive", 5, "Archived by <@5>"),
        ("client:flag", None, "Flagged in another mail client"),
        ("client:read+flag", None, "Read and flagged in another mail client"),
        (
            "client:unread+unflag+delete",
            None,
            "Marked unread, unflagged and marked deleted in another mail client",
        ),
        ("gone", None, "Moved or deleted in another mail client"),
        ("client:bogus", None, None),
    ],
)
def test_status_line(event, by, line):
    assert status_line(live(event=event, event_by=by)) == line


def test_status_is_the_last_field_of_the_original_embed():
    original = {"title": "hi", "fields": [{"name": "From", "value": "a", "inline": True}]}
    embed = alert_embed(original, live(event="read", event_by=9)).to_dict()
    assert [f["name"] for f in embed["fields"]] == ["From", "Status"]
    assert original["fields"] == [{"name": "From", "value": "a", "inline": True}]  # untouched


def test_client_event_names_what_changed():
    assert client_event(MessageFlags(), MessageFlags(seen=True)) == "client:read"
    assert client_event(None, MessageFlags()) is None  # unread flags, as assumed
    assert client_event(MessageFlags(True, True), MessageFlags()) == "client:unread+unflag"


def test_stored_changes_from_a_check():
    """Changed flags edit (unless they look the same), gone and reset alerts are gone, an
    alert of an older UIDVALIDITY is gone, and a moved modseq is stored."""
    folder = TrackedFolder(7, "INBOX", 3, 100)
    folder.alerts = {1: (11, MessageFlags()), 2: (12, None), 3: (13, MessageFlags())}
    folder.stale = [14]
    found = FolderChanges(
        "INBOX",
        3,
        105,
        changed={1: MessageFlags(flagged=True), 2: MessageFlags()},
        gone=frozenset({3}),
    )
    changes, modseqs = stored_changes(Checked(folders=[(folder, 7, found)]))
    by_id = {c.live_id: c for c in changes}
    assert by_id[11].event == "client:flag" and by_id[11].edit
    assert by_id[12].flags == MessageFlags() and not by_id[12].edit
    assert (by_id[13].state, by_id[13].event) == (GONE, "gone")
    assert (by_id[14].state, by_id[14].event) == (GONE, "reset")
    assert modseqs == {7: 105}
    quiet = FolderChanges("INBOX", 3, 100)
    assert stored_changes(Checked(folders=[(folder, 7, quiet)])) == (
        [Change(14, state=GONE, event="reset")],
        {},
    )
