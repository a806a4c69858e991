"""Keeps secrets out of what the operator commands print: every line goes through
`Redactor`, which knows the configured secrets and masks them wherever they appear."""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy.engine import make_url

from mail import oauth_providers

# Variables whose value is a secret by name (tokens, keys, client secrets, passwords).
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|_KEY$", re.IGNORECASE)
MASK = "***"


class Redactor:
    def __init__(self, env: Mapping[str, str]) -> None:
        found: set[str] = set()
        for name, value in env.items():
            if value and SECRET_NAME.search(name):
                found.add(value.strip())
                found.update(part.strip() for part in value.split(","))  # each key of a list
        try:
            password = make_url(env.get("DATABASE_URL") or "sqlite://").password
        except Exception:  # a malformed URL is reported elsewhere; mask it whole
            password = env.get("DATABASE_URL")
        if password:
            found.add(str(password))
        found.update(_provider_secrets(env))
        # Longest first, so a key list is masked whole before its parts; short values
        # (a "1" or "t") would mask ordinary words, and no real secret is that short. Any
        # case: a message may quote a value upper- or lower-cased (LOG_LEVEL 'X').
        secrets = sorted((s for s in found if len(s) >= 6), key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(map(re.escape, secrets)), re.IGNORECASE) if secrets else None
        )

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)


def _provider_secrets(env: Mapping[str, str]) -> set[str]:
    """Client secrets of the OAuth2 providers, including those in the providers file."""
    try:
        providers = oauth_providers.load_providers(env)
    except Exception:  # a broken file is check-config's to report; its secrets stay unread
        return set()
    return {p.client_secret for p in providers.values() if p.client_secret}
