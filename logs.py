"""Logging set-up: LOG_FORMAT text (the default) or json (one object a line), the account
and guild ids a poll carries, and the cap that keeps passwords out of both formats."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter

from watch import log_context

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
FORMATS = ("text", "json")
# Loggers that print gateway payloads (modal values, i.e. passwords) at DEBUG.
PAYLOAD_LOGGERS = ("discord.gateway", "discord.state", "discord.http", "discord.webhook")
PROTOCOL_LOGGERS = ("imapclient", "imapclient.imaplib")  # would print LOGIN lines at DEBUG


class ContextFilter(logging.Filter):
    """Adds account_id and guild_id to a record when the task that logs it knows them
    (a record that already has them, through `extra=`, keeps its own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in log_context.current().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def json_formatter() -> logging.Formatter:
    # time (ISO 8601, UTC), level, logger, message; then any extra field of the record
    # (account_id, guild_id) and the traceback as exc_info.
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
    )


def setup_logging(level: str, fmt: str = "text", payload_loggers=PAYLOAD_LOGGERS) -> None:
    """One handler on stderr in the chosen format, replacing any earlier set-up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # Never let a log level show a password: cap the payload loggers at INFO.
    floor = max(logging.INFO, logging.getLevelName(level))
    for name in (*payload_loggers, *PROTOCOL_LOGGERS):
        logging.getLogger(name).setLevel(floor)
