"""A throwaway, real Cyrus IMAP (Debian's cyrus-imapd 3.6 and cyrus-pop3d) for the tests.

The `cyrus` fixture runs Cyrus's `master` in a private temp directory on free loopback ports
with the rig's test certificate (tests/plugins/dovecot/certs.py), users in a sasldb of its
own, each with INBOX, the special-use folders (made with CREATE ... USE) and a storage quota
(SETQUOTA as the admin), and `idled` for IDLE push. Folders follow Debian's defaults:
`INBOX.Sent`, delimiter `.`. Sessions are read from Cyrus's proc_path (one file per serving
process); `kick` ends them with SIGTERM.

Layout: ``server`` (`Cyrus`), ``config`` (imapd.conf, cyrus.conf) and ``fixtures``.
"""

from .fixtures import cyrus
from .server import INSTALL_HINT, Cyrus

__all__ = ["INSTALL_HINT", "Cyrus", "cyrus"]
