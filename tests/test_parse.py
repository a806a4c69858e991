"""mail/parse.py: raw bytes to the fields an alert shows (pure, never raises)."""

from mail.parse import SNIPPET_CHARS, parse_message


def test_rfc2047_subject_and_sender_are_decoded():
    """Encoded words in Subject and From come out as text."""
    raw = (
        b"From: =?utf-8?q?Jos=C3=A9_P=C3=A9rez?= <jose@example.com>\r\n"
        b"Subject: =?iso-8859-1?q?Caf=E9?= =?utf-8?b?4pyT?=\r\n"
        b"Date: Tue, 03 Nov 2026 10:00:00 +0100\r\n\r\nhello\r\n"
    )
    p = parse_message(raw)
    assert p.subject == "Café✓"
    assert p.sender == "José Pérez <jose@example.com>"
    assert p.date.isoformat() == "2026-11-03T10:00:00+01:00"


def test_unknown_charset_becomes_replacement_text():
    """A bogus charset neither raises nor drops the subject."""
    raw = (
        b"Subject: =?x-bogus?q?abc=FF?=\r\n"
        b"Content-Type: text/plain; charset=x-nope\r\n\r\nbody\xff\r\n"
    )
    p = parse_message(raw)
    assert p.subject.startswith("abc")
    assert p.snippet.startswith("body")


def test_missing_headers_get_placeholders():
    """No From, Subject or Date: readable placeholders, date None."""
    p = parse_message(b"\r\njust a body\r\n")
    assert (p.subject, p.sender, p.date, p.message_id) == (
        "(no subject)",
        "(unknown sender)",
        None,
        None,
    )


def test_html_only_mail_becomes_text_without_script():
    """HTML is turned into text and script/style contents are dropped."""
    raw = (
        b"Subject: html\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><style>p{color:red}</style><script>alert('x')</script>"
        b"<p>Hello <b>team</b></p></html>\r\n"
    )
    p = parse_message(raw)
    assert "Hello team" in p.snippet
    assert "alert" not in p.snippet
    assert "color" not in p.snippet


def test_snippet_is_bounded_and_attachments_named():
    """The snippet is at most SNIPPET_CHARS; attachment names are listed, paths removed."""
    raw = (
        b"Subject: files\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\n" + b"word " * 500 + b"\r\n"
        b"--b\r\nContent-Type: application/pdf\r\n"
        b'Content-Disposition: attachment; filename="../../etc/report.pdf"\r\n\r\nAAAA\r\n'
        b"--b--\r\n"
    )
    p = parse_message(raw)
    assert len(p.snippet) <= SNIPPET_CHARS
    assert p.attachments == (".._.._etc_report.pdf",)


def test_deep_multipart_does_not_recurse_forever():
    """A 2,000-deep multipart nest parses without RecursionError."""
    depth = 2000
    head = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    raw = b"Subject: deep\r\n" + head + b"Content-Type: text/plain\r\n\r\nbottom\r\n"
    p = parse_message(raw)
    assert p.subject == "deep"


def test_parse_headers_agrees_with_parse_message_on_the_corpus():
    """The cheap header-only parse (POP3 bulk downloads) gives the same sender, subject,
    date and Message-ID as the full parse, for every golden message."""
    from pathlib import Path

    from mail.parse import parse_headers

    corpus = sorted((Path(__file__).parent / "data" / "messages").glob("*.eml"))
    assert len(corpus) >= 25
    for path in corpus:
        raw = path.read_bytes()
        full, head = parse_message(raw), parse_headers(raw)
        assert (head.subject, head.sender, head.date, head.message_id) == (
            full.subject,
            full.sender,
            full.date,
            full.message_id,
        ), path.name
        assert (head.snippet, head.attachments) == ("", ())
