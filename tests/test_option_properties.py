"""Property tests for every user-supplied option: each validator returns a value inside its
documented bounds or raises its documented error (cogs._errors.UserError for cogs._validate,
ValueError for quota thresholds and retention), never anything else; the archive search
takes any text without raising and returns bounded, account-scoped results."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from cogs import _validate
from cogs._errors import UserError
from mail.quota import parse_thresholds
from mail.types import DEFAULT_PORTS, Protocol, Security
from storage import archive
from storage.archive import Retention
from storage.crypto import SecretBox
from storage.db import make_engine, migrate
from storage.models import ArchivedMessage
from storage.repo import NewAccount, create_account

FAST = settings(max_examples=150, deadline=None)
# The module-scoped store is only read here, so sharing it between examples is safe.
DB = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
HOST_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-:_")

# Generic text plus text drawn from each option's own alphabet (hits the edges more often).
any_text = st.text(max_size=400)
hostish = st.text(alphabet="aZ09.-:_[] \t\n%/@", max_size=300)
listish = st.text(alphabet="0123456789, %-+.²٣\n", max_size=60)
folderish = st.text(alphabet="inboxINBOX ,\x00\r\n\x1f/.", max_size=80)
retentionish = st.text(alphabet="dayskeplt:0123456789 -+DK²٣", max_size=20)
protocols = st.sampled_from(list(Protocol))
securities = st.sampled_from(list(Security))
big_ints = st.none() | st.integers(min_value=-(2**63), max_value=2**63)


@FAST
@given(hostish | any_text)
def test_host_is_bounded_or_refused(value):
    """host(): 1..253 host characters, no brackets or trailing dot, or a UserError."""
    try:
        result = _validate.host(value)
    except UserError:
        return
    assert 1 <= len(result) <= 253
    assert set(result) <= HOST_CHARS
    assert not result.endswith(".")


@FAST
@given(big_ints, protocols, securities)
def test_port_is_bounded_or_refused(value, protocol, security):
    """port(): 1..65535 (the protocol/security default when omitted), or a UserError."""
    try:
        result = _validate.port(value, protocol, security)
    except UserError:
        assert value is not None and not 1 <= value <= 65535
        return
    assert 1 <= result <= 65535
    assert result == (DEFAULT_PORTS[(protocol, security)] if value is None else value)


@FAST
@given(big_ints)
def test_interval_is_bounded_or_refused(value):
    """interval(): MIN_INTERVAL..MAX_INTERVAL minutes (5 when omitted), or a UserError."""
    try:
        result = _validate.interval(value)
    except UserError:
        assert value is not None
        return
    assert _validate.MIN_INTERVAL <= result <= _validate.MAX_INTERVAL


@FAST
@given(st.none() | any_text | folderish, protocols)
def test_folders_are_bounded_or_refused(value, protocol):
    """folders(): 1..20 distinct trimmed names, no control chars (POP3: INBOX) or UserError."""
    try:
        result = _validate.folders(value, protocol)
    except UserError:
        return
    assert isinstance(result, tuple)
    assert 1 <= len(result) <= _validate.MAX_FOLDERS
    assert len(set(result)) == len(result)
    for name in result:
        assert name and name == name.strip()
        assert len(name) <= _validate.MAX_FOLDER_NAME
        assert not any(ord(c) < 32 for c in name)
    if protocol is Protocol.POP3:
        assert result == ("INBOX",)


@FAST
@given(st.none() | any_text, st.text(min_size=1, max_size=320), st.text(min_size=1, max_size=253))
def test_account_name_is_bounded_or_refused(value, username, host):
    """account_name(): 1..MAX_ACCOUNT_NAME characters, trimmed, or a UserError."""
    try:
        result = _validate.account_name(value, username, host)
    except UserError:
        return
    assert 1 <= len(result) <= _validate.MAX_ACCOUNT_NAME
    assert result == result.strip()


@FAST
@given(any_text | st.text(alphabet=" \t\r\nab@.", max_size=400))
def test_username_is_bounded_or_refused(value):
    """username(): 1..320 characters, trimmed, or a UserError."""
    try:
        result = _validate.username(value)
    except UserError:
        return
    assert 1 <= len(result) <= 320
    assert result == result.strip()


@FAST
@given(listish | any_text)
def test_quota_thresholds_are_bounded_or_refused(text):
    """parse_thresholds(): 1..10 sorted distinct integers in 1..100, or a ValueError."""
    try:
        result = parse_thresholds(text)
    except ValueError:
        return
    assert 1 <= len(result) <= 10
    assert list(result) == sorted(set(result))
    assert all(isinstance(t, int) and 1 <= t <= 100 for t in result)


@FAST
@given(retentionish | any_text)
def test_retention_is_bounded_or_refused(text):
    """Retention.parse(): keep/delete/days:1..3650 that round-trips, or a ValueError."""
    try:
        result = Retention.parse(text)
    except ValueError:
        return
    assert result.mode in ("keep", "delete", "days")
    if result.mode == "days":
        assert 1 <= result.days <= 3650
    else:
        assert result.days == 0
    assert Retention.parse(str(result)) == result


@pytest.mark.parametrize("n", [1, 80, 3650])
def test_retention_days_round_trip(n):
    """days:N in range is accepted as is."""
    assert Retention.parse(f" DAYS:{n} ") == Retention("days", n)


# ------------------------------------------------------------------ archive search

SUBJECTS = [
    "Invoice 2024",
    "100% off today",
    "a_b c",
    "Re: [list] hello",
    "quote ' and \" marks",
    "back\\slash",
    "Ünïcode Ωmega",
    "",
]


@pytest.fixture(scope="module")
def archive_store(tmp_path_factory, databases):
    """A migrated store (SQLite, or PostgreSQL when the suite runs on it) with two accounts;
    messages in both (and a baseline row)."""
    with databases.fresh(tmp_path_factory.mktemp("search")) as url:
        yield from _filled_archive(url)


def _filled_archive(url):
    engine = make_engine(url)
    migrate(engine)
    box = SecretBox(SecretBox.generate_key())
    ids = []
    for guild in (1, 2):
        account = create_account(
            engine,
            NewAccount(
                guild_id=guild,
                channel_id=10,
                name="pop",
                protocol="pop3",
                host="pop.example.org",
                port=995,
                security="tls",
                username="u",
                password_encrypted=box.encrypt("pw"),
                folders=("INBOX",),
                interval_minutes=5,
                created_by=3,
            ),
        )
        ids.append(account.id)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        for owner in ids:
            for i, subject in enumerate(SUBJECTS * 3):
                session.add(
                    ArchivedMessage(
                        account_id=owner,
                        uidl=f"u{i}",
                        sender=f"Sender {i % 4} <s{i % 4}@example.org>",
                        subject=subject,
                        raw_compressed=zlib.compress(b"x"),
                        downloaded_at=start + timedelta(minutes=i),
                    )
                )
            session.add(ArchivedMessage(account_id=owner, uidl="baseline", subject="Invoice"))
        session.commit()
    yield engine, ids
    engine.dispose()


@DB
@given(
    query=st.none() | any_text | st.sampled_from(["%", "_", "%%", "\\", "'", '"', "\x00", "*"]),
    limit=st.integers(min_value=0, max_value=60),
    offset=st.integers(min_value=0, max_value=80),
)
def test_archive_search_never_raises_and_is_bounded(archive_store, query, limit, offset):
    """search(): any text; at most `limit` rows, own account only, consistent total."""
    engine, (mine, _other) = archive_store
    rows, total = archive.search(engine, mine, query, limit, offset)
    assert 0 <= len(rows) <= limit
    assert 0 <= total <= len(SUBJECTS) * 3
    assert len(rows) <= max(0, total - offset)
    assert all(r.account_id == mine and r.raw_compressed is not None for r in rows)


@DB
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=9))
def test_archive_search_matches_are_real_substrings(archive_store, query):
    """Every hit contains the ASCII query (any case); % and _ match literally."""
    engine, (mine, _other) = archive_store
    rows, _ = archive.search(engine, mine, query, 100)
    needle = query.lower()
    assert all(needle in r.sender.lower() or needle in r.subject.lower() for r in rows)


@pytest.mark.parametrize("value", ["[]", "[", "]", "[.]", "0[0", "a.[", "[].", "mail\n.", "a\n.."])
def test_host_refuses_stray_brackets_and_newlines(value):
    """host() must refuse stray brackets, a trailing newline, or an empty bracket pair."""
    with pytest.raises(UserError):
        _validate.host(value)


@pytest.mark.parametrize("query", ["%", "_", "0_ o", "%%", "\\"])
def test_search_wildcards_are_literal(archive_store, query):
    """A query of % or _ finds only messages that contain that character (and some do)."""
    engine, (mine, _other) = archive_store
    rows, _ = archive.search(engine, mine, query, 100)
    assert rows or query in ("0_ o", "%%")
    assert all(query in r.subject.lower() or query in r.sender.lower() for r in rows)


@pytest.mark.parametrize("digits", ["²", "٣", "¹⁰"])
@pytest.mark.parametrize("parse", [parse_thresholds, lambda t: Retention.parse(f"days:{t}")])
def test_non_ascii_digits_get_the_friendly_message(parse, digits):
    """A non-ASCII 'digit' is refused with the validator's own sentence, not int()'s."""
    with pytest.raises(ValueError, match="from 1 to"):
        parse(digits)
