"""Mail failures, each with the sentence a user reads in Discord."""

from __future__ import annotations


class MailError(Exception):
    """Base class. `kind` is a short stable tag (for health records); str() is user-facing."""

    kind = "error"
    # True: the failure left the IMAP session usable (a refused mailbox action), so
    # SessionPool.run keeps the connection instead of dropping it.
    keeps_session = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConnectError(MailError):
    kind = "connect"


class DNSError(ConnectError):
    kind = "dns"


class RefusedError(ConnectError):
    kind = "refused"


class MailTimeoutError(ConnectError):
    kind = "timeout"


class PrivateHostError(ConnectError):
    kind = "private-host"


class TLSError(MailError):
    kind = "tls"


class AuthError(MailError):
    kind = "login"


class FolderError(MailError):
    kind = "folder"


class ProtocolError(MailError):
    kind = "protocol"


class LimitError(MailError):
    """The server went past a bound (mail/limits.py): a literal, line or response too
    large, too many untagged responses, or a deadline. The connection was dropped. Not a
    ConnectError: a reused session is not retried at once on a fresh one (the server would
    do it again); the account's failure backoff applies. `bound` names which one."""

    kind = "limit"

    def __init__(self, message: str, bound: str = "") -> None:
        super().__init__(message)
        self.bound = bound
