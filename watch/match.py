"""The `match` of a routing rule: parsing it (with errors a user can act on) and testing a
message against it. Pure: no I/O, no Discord.

Grammar: terms separated by blanks; a term is FIELD:VALUE with FIELD one of from, to,
subject, folder (any case); VALUE runs to the next blank, or is written in double quotes
when it holds blanks (`subject:"big order"`). A value cannot hold a double quote. Every term
must hold (AND), each a case-insensitive substring test: from: against the sender (name and
address), to: against each To and Cc address, subject:, folder: against the folder name."""

from __future__ import annotations

from dataclasses import dataclass

from i18n import N_, MsgError
from mail.types import NewMessage

FIELDS = ("from", "to", "subject", "folder")
MAX_MATCH_CHARS = 300  # what a user types; the stored, normalized form fits in 400
MAX_TERMS = 10
MAX_VALUE_CHARS = 200


class MatchError(MsgError):
    """A `match` that cannot be used; the message says what is wrong, for the user."""


@dataclass(frozen=True)
class Term:
    field: str
    value: str  # as typed (shown back); compared case-insensitively

    def __str__(self) -> str:
        return f'{self.field}:"{self.value}"' if " " in self.value else f"{self.field}:{self.value}"


@dataclass(frozen=True)
class Match:
    terms: tuple[Term, ...]

    def __str__(self) -> str:
        return " ".join(map(str, self.terms))

    def matches(self, message: NewMessage) -> bool:
        return all(_holds(term, message) for term in self.terms)


def _holds(term: Term, message: NewMessage) -> bool:
    wanted = term.value.casefold()
    if term.field == "from":
        return wanted in message.sender.casefold()
    if term.field == "to":
        return any(wanted in addr.casefold() for addr in (*message.to, *message.cc))
    if term.field == "subject":
        return wanted in message.subject.casefold()
    return wanted in message.folder.casefold()


def _blank(char: str) -> bool:
    return char in " \t"


def parse_match(text: str) -> Match:
    """The terms of `text`, or MatchError naming the first problem."""
    if len(text) > MAX_MATCH_CHARS:
        raise MatchError(
            N_("`match` is too long ({length} characters; at most {max_match_chars})."),
            length=len(text),
            max_match_chars=MAX_MATCH_CHARS,
        )
    if any((ord(c) < 32 and not _blank(c)) or ord(c) == 127 for c in text):
        raise MatchError(
            N_("`match` holds a control character (a line break?); type it on one line.")
        )
    terms: list[Term] = []
    pos, size = 0, len(text)
    while True:
        while pos < size and _blank(text[pos]):
            pos += 1
        if pos == size:
            break
        start = pos
        while pos < size and not _blank(text[pos]) and text[pos] not in ':"':
            pos += 1
        name = text[start:pos]
        if pos == size or text[pos] != ":":
            word = _word_at(text, start)
            raise MatchError(
                N_(
                    "`{word}` is not a term: write FIELD:VALUE, e.g. `from:alice` or "
                    '`subject:"big order"` (fields: {fields}).'
                ),
                word=word,
                fields=_field_list(),
            )
        field = name.lower()
        if field not in FIELDS:
            raise MatchError(
                N_("Unknown field `{name}:`; the fields are {fields}."),
                name=name[:40],
                fields=_field_list(),
            )
        pos += 1  # the colon
        if pos < size and text[pos] == '"':
            end = text.find('"', pos + 1)
            if end < 0:
                raise MatchError(
                    N_('Unclosed double quote in `{text}`: end the value with `"`.'),
                    text=text[start:][:60],
                )
            value, pos = text[pos + 1 : end], end + 1
            if pos < size and not _blank(text[pos]):
                raise MatchError(
                    N_("`{word}`: put a blank after the closing double quote."),
                    word=_word_at(text, start),
                )
        else:
            begin = pos
            while pos < size and not _blank(text[pos]):
                pos += 1
            value = text[begin:pos]
            if '"' in value:
                raise MatchError(
                    N_(
                        "`{text}`: a double quote may only open a value "
                        '(`{field}:"..."`); a value cannot hold one.'
                    ),
                    text=text[start:pos][:60],
                    field=field,
                )
        if not value.strip():
            raise MatchError(
                N_("`{field}:` has an empty value: say what it must contain."), field=field
            )
        if len(value) > MAX_VALUE_CHARS:
            raise MatchError(
                N_("The `{field}:` value is too long (at most {max_value_chars})."),
                field=field,
                max_value_chars=MAX_VALUE_CHARS,
            )
        terms.append(Term(field, value.strip()))
        if len(terms) > MAX_TERMS:
            raise MatchError(N_("Too many terms (at most {max_terms})."), max_terms=MAX_TERMS)
    if not terms:
        raise MatchError(
            N_("`match` is empty: give at least one term such as `from:alice` ({fields})."),
            fields=_field_list(),
        )
    return Match(tuple(terms))


def _word_at(text: str, start: int) -> str:
    end = start
    while end < len(text) and not _blank(text[end]):
        end += 1
    return text[start:end][:60]


def _field_list() -> str:
    return ", ".join(f"`{f}:`" for f in FIELDS)
