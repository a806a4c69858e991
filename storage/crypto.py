"""Fernet encryption of stored secrets. Several comma-separated keys may be given
(MultiFernet): the first encrypts, all decrypt, so keys can be rotated."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretKeyError(ValueError):
    pass


class SecretBox:
    """Encrypts with the first key, decrypts with any. Holds no plaintext, and its repr
    shows no key."""

    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise SecretKeyError("MAILSYNC_SECRET_KEY is empty")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])
        except (ValueError, TypeError) as exc:
            raise SecretKeyError(
                "MAILSYNC_SECRET_KEY is not a valid Fernet key "
                "(make one with `python bot.py --generate-key`)"
            ) from exc

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def rotate(self, token: str) -> str:
        """`token` re-encrypted with the first key (MultiFernet.rotate); the plaintext never
        leaves this call. Raises SecretKeyError when no key decrypts it."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyError("a stored password cannot be decrypted with any key") from exc

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise SecretKeyError("a stored password cannot be decrypted with this key") from exc

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()
