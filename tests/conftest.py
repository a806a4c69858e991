"""Shared fixtures: a real Dovecot and a local double of Discord's API."""

pytest_plugins = [
    "tests.plugins.dovecot",
    "tests.plugins.discord_double",
    "tests.plugins.mailsync",
    "tests.plugins.database",
]
