"""The status board's embed (cogs/_board_ui.py): a pure function of BoardData, so equal
states hash alike, and mail text on it is as inert and as private as in alerts."""

from dataclasses import replace
from datetime import UTC, datetime

from cogs._notices import EmbedRenderer
from mail.quota import QuotaReport, QuotaResource, QuotaRoot
from watch.board import content_hash
from watch.board_data import BoardData, FolderLine, Health, Newest, Pop3Box, to_minute

WHEN = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def _data(**changes) -> BoardData:
    base = BoardData(
        account_name="ops",
        protocol="imap",
        privacy="snippet",
        health=Health.OK,
        failures=0,
        last_error=None,
        alerts_held=None,
        pushed=True,
        interval_minutes=5,
        next_check=None,
        folders=(FolderLine("INBOX", 12, 3), FolderLine("Sales", None, None)),
        quota=QuotaReport(True, (QuotaRoot("User", (QuotaResource("STORAGE", 512, 1024),)),)),
        newest=Newest("INBOX", "Boss <boss@example.com>", "Quarterly numbers", WHEN),
    )
    return replace(base, **changes)


def _text(embed: dict) -> str:
    fields = [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
    return "\n".join([embed["title"], embed.get("description", ""), *fields])


def test_equal_data_renders_an_equal_hash_and_a_change_does_not():
    """The edit decision rests on this: same state, same hash; one count more, another."""
    render = EmbedRenderer()
    assert content_hash(render.board(_data())) == content_hash(render.board(_data()))
    more = _data(folders=(FolderLine("INBOX", 13, 3), FolderLine("Sales", None, None)))
    assert content_hash(render.board(more)) != content_hash(render.board(_data()))


def test_board_shows_counts_quota_newest_and_push():
    """Folders with messages and unseen, a quota bar, the newest mail, the push line."""
    text = _text(EmbedRenderer().board(_data()))
    assert "**INBOX** \N{EM DASH} 12 messages, 3 unseen" in text
    assert "**Sales** \N{EM DASH} counted at the next check" in text
    assert "50.0 %" in text and "\N{FULL BLOCK}" in text
    assert "Quarterly numbers" in text and "<t:" in text
    assert "pushed (IMAP IDLE)" in text


def test_minimal_privacy_hides_sender_and_subject():
    """As alerts at privacy minimal: only the folder and the date of the newest mail."""
    text = _text(EmbedRenderer().board(_data(privacy="minimal")))
    assert "Quarterly" not in text and "boss@" not in text
    assert "In INBOX, <t:" in text


def test_mail_text_cannot_mention_or_format():
    """A subject or folder name from mail cannot ping or inject markdown on the board."""
    hostile = Newest("@everyone", "<@&1>", "**bold** @here [x](https://evil)", WHEN)
    text = _text(EmbedRenderer().board(_data(newest=hostile)))
    assert "@everyone" not in text.replace("@\u200beveryone", "")
    assert "@here" not in text.replace("@\u200bhere", "")
    assert "**bold**" not in text
    assert "](https" not in text


def test_failing_and_paused_states():
    """A failing account says how many polls failed and when the next try is; paused says
    how to resume and nothing about the schedule."""
    failing = _data(
        health=Health.FAILING, failures=3, last_error="refused", pushed=False, next_check=WHEN
    )
    text = _text(EmbedRenderer().board(failing))
    assert "The last 3 polls failed: refused" in text
    assert f"Next try <t:{int(WHEN.timestamp())}:R>" in text
    paused = _text(EmbedRenderer().board(_data(health=Health.PAUSED, pushed=False)))
    assert "/mail resume" in paused and "Next" not in paused


def test_pop3_board_shows_stat_archive_and_declared_limit():
    """POP3: INBOX from the last STAT, the archive's totals, usage against the declared
    limit; without a limit it says how to declare one."""
    box = Pop3Box(
        count=4, size_bytes=2048 * 1024, archived=9, archived_bytes=3 * 1024 * 1024, limit_mb=4
    )
    text = _text(EmbedRenderer().board(_data(protocol="pop3", folders=(), quota=None, pop3=box)))
    assert "**INBOX** \N{EM DASH} 4 messages, 2.0 MiB" in text
    assert "**Archive** \N{EM DASH} 9 messages, 3.0 MiB" in text
    assert "50.0 %" in text
    unlimited = replace(box, limit_mb=None)
    text = _text(EmbedRenderer().board(_data(protocol="pop3", quota=None, pop3=unlimited)))
    assert "mailbox_limit_mb" in text


def test_next_check_is_kept_to_the_minute():
    """A poll a few seconds late does not change the board."""
    a = to_minute(datetime(2026, 12, 1, 9, 30, 10, tzinfo=UTC))
    b = to_minute(datetime(2026, 12, 1, 9, 29, 55, tzinfo=UTC))
    assert a == b == WHEN
