"""A throwaway, real Courier (Debian's courier-imap 5 and courier-pop) for the tests.

The `courier` fixture runs authdaemond (the authuserdb module, a userdb of its own) and one
couriertcpd per port (IMAP, POP3, and both behind couriertls for implicit TLS with the rig's
test certificate) in a private temp directory on free loopback ports. courier-authlib has
/etc/courier and /run/courier compiled in, so the whole server runs in a mount namespace of
its own (`unshare --mount`) where the temp directory's etc/ and run/ are bind-mounted over
them; the system's files are never touched. Each user has a Maildir++ with a quota
(maildirsize) and the folders INBOX.Sent, .Drafts, .Trash, .Junk, .Archives (Courier has no
SPECIAL-USE). Sessions are found by their processes' AUTHENTICATED variable; `kick` ends
them with SIGTERM.

Layout: ``server`` (`Courier`), ``config`` (authdaemonrc, imapd/pop3d settings, the start
script) and ``fixtures``.
"""

from .fixtures import courier
from .server import INSTALL_HINT, Courier

__all__ = ["INSTALL_HINT", "Courier", "courier"]
