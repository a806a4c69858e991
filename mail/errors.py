"""Mail failures, each with the sentence a user reads in Discord. The sentence is an
English msgid with its arguments (i18n.Msg): str() gives the English text (logs, health
records), `render(t)` the reader's language."""

from __future__ import annotations

from i18n import Explained


class MailError(Explained):
    """Base class. `kind` is a short stable tag (for health records); str() is user-facing.
    Raise as `AuthError(N_("... `{host}` ..."), host=cfg.host)`, or with a ready Msg."""

    kind = "error"
    # True: the failure left the IMAP session usable (a refused mailbox action), so
    # SessionPool.run keeps the connection instead of dropping it.
    keeps_session = False

    @property
    def message(self) -> str:
        return str(self.msg)


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

    def __init__(self, message: str, /, bound: str = "", **args: object) -> None:
        super().__init__(message, **args)
        self.bound = bound
