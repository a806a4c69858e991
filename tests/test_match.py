"""watch/match.py: the `match` of a routing rule, parsed and tested against messages."""

import pytest

from mail.types import NewMessage
from watch.match import MAX_MATCH_CHARS, MatchError, Term, parse_match


def _message(**kw) -> NewMessage:
    fields = {
        "folder": "INBOX",
        "uid": 1,
        "subject": "Your Big Order #42",
        "sender": "Alice Example <alice@shop.example>",
        "date": None,
        "snippet": "",
        "to": ("support@desk.example",),
        "cc": ("billing@desk.example",),
    }
    fields.update(kw)
    return NewMessage(**fields)


def test_terms_bare_and_quoted_with_any_case_field():
    """Bare values run to the next blank; quoted ones keep their blanks; FIELD any case."""
    parsed = parse_match('From:alice  subject:"big order"\tfolder:INBOX to:desk')
    assert parsed.terms == (
        Term("from", "alice"),
        Term("subject", "big order"),
        Term("folder", "INBOX"),
        Term("to", "desk"),
    )
    assert str(parsed) == 'from:alice subject:"big order" folder:INBOX to:desk'
    assert parse_match(str(parsed)) == parsed  # the stored form parses to the same rule


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("cc:bob", "Unknown field `cc:`"),
        ("sender:bob", "Unknown field `sender:`"),
        ("from:", "`from:` has an empty value"),
        ('subject:""', "`subject:` has an empty value"),
        ('subject:"   "', "`subject:` has an empty value"),
        ('subject:"big order', "Unclosed double quote"),
        ('from:a subject:"x', "Unclosed double quote"),
        ("x" * (MAX_MATCH_CHARS + 1), "too long"),
        ("subject:" + "x" * 201, "value is too long"),
        ("alice", "`alice` is not a term"),
        ("from alice", "`from` is not a term"),
        ("", "`match` is empty"),
        ("   ", "`match` is empty"),
        ('subject:ab"c', "a double quote may only open a value"),
        ('subject:"a"b', "put a blank after the closing double quote"),
        ("from:a\nsubject:b", "control character"),
        (" ".join(["from:a"] * 11), "Too many terms"),
    ],
)
def test_bad_match_names_the_problem(text, says):
    """Each kind of bad `match` is refused with a message that names what is wrong."""
    with pytest.raises(MatchError) as caught:
        parse_match(text)
    assert says in str(caught.value)


def test_all_terms_must_hold_case_insensitively():
    """Every term is a case-insensitive substring test, and all must hold."""
    message = _message()
    assert parse_match('from:ALICE@shop subject:"big order"').matches(message)
    assert not parse_match('from:alice subject:"small order"').matches(message)
    assert parse_match("folder:inbox").matches(message)
    assert not parse_match("folder:Sent").matches(_message())


def test_to_matches_to_and_cc_addresses():
    """to: looks at every To and Cc address."""
    message = _message()
    assert parse_match("to:SUPPORT@").matches(message)
    assert parse_match("to:billing@").matches(message)
    assert not parse_match("to:sales@").matches(message)
    assert not parse_match("to:support@").matches(_message(to=(), cc=()))


def test_to_does_not_match_across_two_addresses():
    """A to: value is tested against each address, not the list joined."""
    message = _message(to=("a@x.example", "b@y.example"))
    assert not parse_match("to:example,b").matches(message)
    assert not parse_match('to:"example b"').matches(message)
