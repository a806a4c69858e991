"""Accounts for store-level tests: every field a stored account needs, any overridden."""

from __future__ import annotations

from typing import Any

from storage import repo


def new_account(**fields: Any) -> repo.NewAccount:
    values: dict[str, Any] = {
        "guild_id": 1,
        "channel_id": 987654321098765432,
        "name": "desk",
        "protocol": "imap",
        "host": "mail.example.com",
        "port": 993,
        "security": "tls",
        "username": "desk@example.com",
        "password_encrypted": "token",
        "folders": ("INBOX",),
        "interval_minutes": 5,
        "created_by": 1,
    }
    return repo.NewAccount(**(values | fields))
