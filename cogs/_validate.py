"""Checks of user-supplied options, before anything touches the network or the store."""

from __future__ import annotations

import re

from cogs._errors import UserError
from i18n import N_
from mail.types import DEFAULT_PORTS, Protocol, Security

MAX_FOLDERS = 20
MAX_FOLDER_NAME = 200
MAX_ACCOUNT_NAME = 100
MIN_INTERVAL = 1
MAX_INTERVAL = 24 * 60
_HOST = re.compile(r"[A-Za-z0-9.\-:_]+")


def host(value: str) -> str:
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):  # a bracketed IPv6 literal
        value = value[1:-1]
    value = value.rstrip(".")
    if not value or len(value) > 253 or not _HOST.fullmatch(value):
        raise UserError(N_("`{value}` is not a valid host name."), value=value[:60])
    return value


def printable(value: str) -> bool:
    """No control characters (PostgreSQL refuses NUL; line breaks would break protocols)."""
    return not any(ord(c) < 32 or ord(c) == 127 for c in value)


def port(value: int | None, protocol: Protocol, security: Security) -> int:
    if value is None:
        return DEFAULT_PORTS[(protocol, security)]
    if not 1 <= value <= 65535:
        raise UserError(N_("Port {value} is out of range (1-65535)."), value=value)
    return value


def interval(value: int | None) -> int:
    if value is None:
        return 5
    if not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise UserError(
            N_("The interval must be {min_interval} to {max_interval} minutes."),
            min_interval=MIN_INTERVAL,
            max_interval=MAX_INTERVAL,
        )
    return value


def folders(value: str | None, protocol: Protocol) -> tuple[str, ...]:
    if not value:
        return ("INBOX",)
    names: list[str] = []
    for raw in value.split(","):
        name = raw.strip()
        if not name:
            continue
        if len(name) > MAX_FOLDER_NAME or any(ord(c) < 32 for c in name):
            raise UserError(N_("`{name}` is not a usable folder name."), name=name[:60])
        if name.upper() == "INBOX":
            name = "INBOX"
        if name not in names:
            names.append(name)
    if not names:
        return ("INBOX",)
    if len(names) > MAX_FOLDERS:
        raise UserError(N_("At most {max_folders} folders per account."), max_folders=MAX_FOLDERS)
    if protocol is Protocol.POP3 and names != ["INBOX"]:
        raise UserError(N_("POP3 cannot see folders: a POP3 account watches INBOX only."))
    return tuple(names)


def account_name(value: str | None, username: str, host_name: str) -> str:
    name = (value or f"{username}@{host_name}").strip()
    if not name or len(name) > MAX_ACCOUNT_NAME or not printable(name):
        raise UserError(
            N_("The account name must be 1 to {max_account_name} characters."),
            max_account_name=MAX_ACCOUNT_NAME,
        )
    return name


def username(value: str) -> str:
    value = value.strip()
    if not value or len(value) > 320 or not printable(value):
        raise UserError(N_("The user name must be 1 to 320 printable characters."))
    return value
