"""cogs/_validate.py: user options are checked before any network or store work."""

import pytest

from cogs import _validate
from cogs._errors import UserError
from mail.types import Protocol, Security


@pytest.mark.parametrize("bad", ["", "   ", "a b", "x" * 300, "evil;rm", "host/path"])
def test_bad_hosts_are_refused(bad):
    """Empty, spaced, overlong or punctuated host names are refused."""
    with pytest.raises(UserError):
        _validate.host(bad)


def test_ports_default_by_protocol_and_security_and_are_range_checked():
    """Defaults follow the protocol and security; 0 and 65536 are refused."""
    assert _validate.port(None, Protocol.IMAP, Security.TLS) == 993
    assert _validate.port(None, Protocol.IMAP, Security.STARTTLS) == 143
    assert _validate.port(None, Protocol.POP3, Security.TLS) == 995
    for bad in (0, 65536, -1):
        with pytest.raises(UserError):
            _validate.port(bad, Protocol.IMAP, Security.TLS)


def test_interval_must_be_at_least_one_minute():
    """The default is 5; below 1 minute is refused."""
    assert _validate.interval(None) == 5
    with pytest.raises(UserError):
        _validate.interval(0)


def test_folders_are_split_deduplicated_and_bounded():
    """Comma-separated folders: trimmed, INBOX normalised, duplicates dropped, count bounded."""
    assert _validate.folders(" inbox, Sent ,Sent,", Protocol.IMAP) == ("INBOX", "Sent")
    assert _validate.folders(None, Protocol.IMAP) == ("INBOX",)
    with pytest.raises(UserError):
        _validate.folders(",".join(f"f{i}" for i in range(30)), Protocol.IMAP)
    with pytest.raises(UserError):
        _validate.folders("Sent", Protocol.POP3)
