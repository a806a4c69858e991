"""The language a guild chose for its channel posts (/mail language). Blocking: async
callers go through asyncio.to_thread."""

from __future__ import annotations

from sqlalchemy import Engine, delete
from sqlmodel import Session, select

from storage.models import GuildLanguage, utcnow

AUTO = "auto"


def get(engine: Engine, guild_id: int) -> str:
    """The stored setting: a language (en, es, pt-BR) or `auto` when none is stored."""
    with Session(engine) as session:
        row = session.get(GuildLanguage, guild_id)
        return row.language if row is not None else AUTO


def all_set(engine: Engine) -> dict[int, str]:
    """Every guild's stored language (guilds on `auto` have no row)."""
    with Session(engine) as session:
        return {r.guild_id: r.language for r in session.exec(select(GuildLanguage)).all()}


def set_language(engine: Engine, guild_id: int, language: str) -> None:
    """Store a guild's language; `auto` removes the row."""
    with Session(engine) as session:
        row = session.get(GuildLanguage, guild_id)
        if language == AUTO:
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(GuildLanguage(guild_id=guild_id, language=language))
        else:
            row.language = language
            row.updated_at = utcnow()
            session.add(row)
        session.commit()


def forget(session: Session, guild_id: int) -> None:
    """Inside the transaction that deletes a guild the bot left."""
    session.exec(delete(GuildLanguage).where(GuildLanguage.guild_id == guild_id))  # type: ignore[call-overload]
