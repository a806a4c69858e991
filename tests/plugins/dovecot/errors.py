"""The rig's one exception."""


class DovecotError(RuntimeError):
    """Dovecot is missing, failed to start, or failed to stop."""
