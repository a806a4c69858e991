"""A hostile-server double: a man-in-the-middle in front of the real Dovecot that passes
bytes through until a test sets a fault (tests/plugins/hostile/proxy.py). Fault classes
live beside it, one file per kind of misbehaviour."""

from .fixtures import hostile_imap, hostile_pop3
from .proxy import PASS, Fault, HostileProxy, Link

__all__ = ["PASS", "Fault", "HostileProxy", "Link", "hostile_imap", "hostile_pop3"]
