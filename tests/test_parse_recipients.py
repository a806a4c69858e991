"""mail/parse.py: the To and Cc addresses routing rules match, from both header paths
(plain blocks read directly, others by the stdlib parser)."""

import email.utils

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mail.parse import MAX_RECIPIENTS, parse_headers, parse_message

PLAIN = (
    b"From: a@b.example\r\n"
    b"To: Support Desk <Support@Desk.example>, billing@desk.example\r\n"
    b"Cc: ann@x.example\r\n"
    b"Subject: hi\r\n\r\nbody\r\n"
)


@pytest.mark.parametrize("parse", [parse_message, parse_headers])
def test_to_and_cc_addresses_lower_cased(parse):
    """Names dropped, addresses lower-cased, To and Cc apart."""
    parsed = parse(PLAIN)
    assert parsed.to == ("support@desk.example", "billing@desk.example")
    assert parsed.cc == ("ann@x.example",)


@pytest.mark.parametrize("parse", [parse_message, parse_headers])
def test_odd_forms_go_through_the_stdlib_parser(parse):
    """Quoted names with commas, encoded-word names, folded lines, groups, 8-bit names."""
    raw = (
        b'To: "Doe, Jane" <jane@x.example>, =?utf-8?q?J=C3=B6rg?= <j@y.example>,\r\n'
        b"  team: c@z.example, d@z.example;\r\n"
        b"Cc: undisclosed-recipients:;\r\n"
        b"Subject: x\r\n\r\n"
    )
    parsed = parse(raw)
    assert parsed.to == ("jane@x.example", "j@y.example", "c@z.example", "d@z.example")
    assert parsed.cc == ()


def test_encoded_word_cannot_pose_as_an_address():
    """An encoded name that decodes to an address is not taken for one."""
    raw = b"To: =?utf-8?q?boss=40corp=2Eexample?= <real@x.example>\r\n\r\n"
    assert parse_headers(raw).to == ("real@x.example",)


def test_no_headers_and_bounds():
    """No To/Cc: empty; a huge list is cut to MAX_RECIPIENTS; duplicates kept once."""
    assert parse_headers(b"Subject: x\r\n\r\n").to == ()
    many = ", ".join(f"u{i}@x.example" for i in range(200)).encode()
    parsed = parse_headers(b"To: " + many + b"\r\nCc: a@x.example, A@x.example\r\n\r\n")
    assert len(parsed.to) == MAX_RECIPIENTS
    assert parsed.cc == ("a@x.example",)


_ATOM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@given(
    st.lists(
        st.tuples(
            st.text(_ATOM, max_size=8),  # a display name, or none
            st.text(_ATOM + "._+-", min_size=1, max_size=10).filter(
                lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s
            ),
            st.text(_ATOM, min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_simple_lists_read_directly_equal_the_stdlib_parser(entries):
    """The fast path for plain address lists gives what email.utils.getaddresses gives."""
    parts = [
        f"{name} <{local}@{domain}.example>" if name else f"{local}@{domain}.example"
        for name, local, domain in entries
    ]
    header = ", ".join(parts)
    expected = dict.fromkeys(a.lower() for _n, a in email.utils.getaddresses([header]))
    assert parse_headers(f"To: {header}\r\n\r\n".encode()).to == tuple(expected)
