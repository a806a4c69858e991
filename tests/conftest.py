"""Shared fixtures: a real Dovecot, a local identity provider and a double of Discord's API."""

pytest_plugins = [
    "tests.plugins.idp",
    "tests.plugins.dovecot",
    "tests.plugins.discord_double",
    "tests.plugins.mailsync",
    "tests.plugins.database",
    "tests.plugins.hostile",
    "tests.plugins.pg_restart",
    "tests.plugins.smtp_sink",
]
