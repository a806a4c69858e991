"""A throwaway, real Dovecot (IMAP + POP3, with and without TLS) for the test suite.

The `dovecot` fixture starts one Dovecot per test session in a private temp directory, on free
loopback ports, with a self-signed certificate (trusted through `Dovecot.ca_file`), quota and
special-use folders (Archives is the \\Archive one), and two more loopback addresses on
which it advertises fewer extensions (`BASIC_HOST`: no MOVE, CONDSTORE, UNSELECT;
`BARE_HOST`: IMAP4rev1 alone) to test clients' fallbacks, and one (`KEEPALIVE_HOST`) on
which an idling connection hears Dovecot's "* OK Still here" every second. Users live in
one passwd-file per user, which Dovecot reads on lookup, so `add_user` takes effect at
once without a reload.

The fixture also offers XOAUTH2 and OAUTHBEARER: an oauth2 passdb checks bearer tokens at
the `idp` fixture's introspection endpoint (tests.plugins.idp), so the users of `add_user`
log in with a password or with a token the IdP issued for them. `kick(user)` ends a user's
sessions, because Dovecot never re-checks an open session's token.

The `Dovecot` class is plain Python and can also be used outside pytest (benchmarks, scripts).

Layout: ``server`` (`Dovecot`: directories, ports, lifecycle), ``config`` (dovecot.conf),
``certs`` (test CA and server certificate), ``host`` (binaries, ports, processes),
``accounts`` (users and IMAP helpers), ``messages`` (`make_message`), ``errors`` and
``fixtures``.
"""

from .accounts import MailUser
from .config import BARE_HOST, BASIC_HOST, DEFAULT_QUOTA_KIB, KEEPALIVE_HOST, SPECIAL_FOLDERS
from .errors import DovecotError
from .fixtures import dovecot, dovecot_ssl_env, layout_dovecot, mail_user
from .host import _alive as _alive  # the rig's tests use these three
from .host import _descendants as _descendants
from .host import _find_binary as _find_binary  # patched here; Dovecot looks it up here
from .messages import make_message
from .server import INSTALL_HINT, START_TIMEOUT, STOP_TIMEOUT, Dovecot

__all__ = [
    "BARE_HOST",
    "BASIC_HOST",
    "DEFAULT_QUOTA_KIB",
    "INSTALL_HINT",
    "KEEPALIVE_HOST",
    "SPECIAL_FOLDERS",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "Dovecot",
    "DovecotError",
    "MailUser",
    "dovecot",
    "dovecot_ssl_env",
    "layout_dovecot",
    "mail_user",
    "make_message",
]

# The `dovecot` fixture needs the `idp` fixture; a conftest naming only this plugin gets both.
pytest_plugins = ["tests.plugins.idp", "tests.plugins.smtp_sink"]
