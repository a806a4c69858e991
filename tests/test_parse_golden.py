"""Golden corpus for mail/parse.py: every tests/data/messages/NAME.eml is parsed and compared
with NAME.json, which holds the decoded fields (see its "description" for what it covers).

Fields: subject, sender, date (ISO 8601 or null), attachments (list), message_id (or null),
and either snippet (exact) or snippet_contains / snippet_excludes (lists of substrings)."""

import json
from pathlib import Path

import pytest

from mail.parse import SNIPPET_CHARS, parse_message

CORPUS = Path(__file__).parent / "data" / "messages"
CASES = sorted(CORPUS.glob("*.json"))
FIELDS = {"description", "subject", "sender", "date", "attachments", "message_id"}
SNIPPET_FIELDS = {"snippet", "snippet_contains", "snippet_excludes"}


def test_corpus_is_complete():
    """At least 25 cases, and every .eml has its .json (and the other way round)."""
    emls = {p.stem for p in CORPUS.glob("*.eml")}
    assert {p.stem for p in CASES} == emls
    assert len(emls) >= 25


@pytest.mark.parametrize("case", CASES, ids=[p.stem for p in CASES])
def test_golden(case: Path):
    expected = json.loads(case.read_text(encoding="utf-8"))
    assert FIELDS <= expected.keys() <= FIELDS | SNIPPET_FIELDS
    assert expected.keys() & SNIPPET_FIELDS
    parsed = parse_message(case.with_suffix(".eml").read_bytes())
    assert parsed.subject == expected["subject"]
    assert parsed.sender == expected["sender"]
    assert (parsed.date.isoformat() if parsed.date else None) == expected["date"]
    assert list(parsed.attachments) == expected["attachments"]
    assert parsed.message_id == expected["message_id"]
    if "snippet" in expected:
        assert parsed.snippet == expected["snippet"]
    for text in expected.get("snippet_contains", []):
        assert text in parsed.snippet
    for text in expected.get("snippet_excludes", []):
        assert text not in parsed.snippet
    assert len(parsed.snippet) <= SNIPPET_CHARS
