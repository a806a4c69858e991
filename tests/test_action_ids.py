"""cogs/_action_ids.py: button custom_ids round-trip, stay within Discord's 100 characters,
and anything else (forged, malformed, out of range, over-long) is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cogs._action_ids import (
    MAX_ID,
    MAX_LENGTH,
    MAX_UID,
    TEMPLATE,
    ActionId,
    InvalidActionId,
    from_match,
    parse,
)
from mail.actions import Action

ids = st.builds(
    ActionId,
    action=st.sampled_from(list(Action)),
    account_id=st.integers(1, MAX_ID),
    folder_key=st.integers(1, MAX_ID),
    uidvalidity=st.integers(1, MAX_UID),
    uid=st.integers(1, MAX_UID),
)


@given(ids)
def test_round_trip_within_discords_limit(action_id):
    """Every valid id encodes to at most 100 characters and parses back to itself, and the
    DynamicItem template (fullmatch, as discord.py dispatches) accepts it."""
    custom_id = action_id.encode()
    assert len(custom_id) <= MAX_LENGTH
    assert parse(custom_id) == action_id
    match = TEMPLATE.fullmatch(custom_id)
    assert match is not None and from_match(match) == action_id


def test_known_encoding():
    """The format is stable: buttons already posted must still parse after an upgrade."""
    custom_id = ActionId(Action.ARCHIVE, 12, 34, 1700000000, 4711).encode()
    assert custom_id == "mailsync:a1:archive:12:34:1700000000:4711"


GOOD = "mailsync:a1:read:1:2:3:4"


@pytest.mark.parametrize(
    "custom_id",
    [
        "",
        "mailsync:pause",
        "mailsync:a1:read:1:2:3",  # a field missing
        "mailsync:a1:read:1:2:3:4:5",  # one too many
        "mailsync:a1:delete:1:2:3:4",  # not an action
        "mailsync:a1:READ:1:2:3:4",  # case matters
        "mailsync:a2:read:1:2:3:4",  # another version
        "xmailsync:a1:read:1:2:3:4",
        GOOD + "\n",
        " " + GOOD,
        "mailsync:a1:read:01:2:3:4",  # not canonical
        "mailsync:a1:read:+1:2:3:4",
        "mailsync:a1:read:-1:2:3:4",
        "mailsync:a1:read:0:2:3:4",  # ids and UIDs start at 1
        "mailsync:a1:read:1:2:0:4",
        "mailsync:a1:read:1:2:3:0",
        "mailsync:a1:read:1:2:3:\u0664",  # an Arabic-Indic digit: int() would take it
        f"mailsync:a1:read:1:2:3:{MAX_UID + 1}",  # beyond 32 bits
        f"mailsync:a1:read:1:2:{MAX_UID + 1}:4",
        f"mailsync:a1:read:{MAX_ID + 1}:2:3:4",  # beyond BIGINT
        "mailsync:a1:read:1:2:3:4" + "0" * 100,  # over-long
    ],
)
def test_forged_or_malformed_ids_are_refused(custom_id):
    """Anything but the exact format with in-range numbers raises InvalidActionId."""
    with pytest.raises(InvalidActionId):
        parse(custom_id)


def test_non_strings_are_refused():
    """A custom_id that is not text (a bad payload) is refused, not crashed on."""
    with pytest.raises(InvalidActionId):
        parse(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "fields",
    [(0, 1, 1, 1), (1, 0, 1, 1), (1, 1, MAX_UID + 1, 1), (1, 1, 1, -5), (True, 1, 1, 1)],
)
def test_out_of_range_ids_cannot_be_built(fields):
    """ActionId itself refuses values no button may carry."""
    with pytest.raises(InvalidActionId):
        ActionId(Action.READ, *fields)


@given(st.text(max_size=120))
def test_arbitrary_text_parses_only_if_it_encodes_back(text):
    """No text other than a canonical encoding parses: parse(x).encode() == x."""
    try:
        parsed = parse(text)
    except InvalidActionId:
        return
    assert parsed.encode() == text
