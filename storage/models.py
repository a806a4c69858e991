"""SQLModel tables. Discord ids are BigInteger (snowflakes exceed 32 bits)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_nonce() -> str:
    """A Discord message nonce that no other outbox row ever carries: 128 random bits
    (22 characters, under Discord's 25), so neither a reused row id (SQLite reuses the ids
    of deleted rows), a restored backup nor another process can repeat an earlier one."""
    return "m" + secrets.token_urlsafe(16)


class Account(SQLModel, table=True):
    __tablename__ = "account"
    __table_args__ = (UniqueConstraint("guild_id", "name", name="uq_account_guild_name"),)

    id: int | None = Field(default=None, primary_key=True)
    guild_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    channel_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    name: str = Field(max_length=200)
    protocol: str = Field(max_length=8)
    host: str = Field(max_length=255)
    port: int
    security: str = Field(max_length=16)
    username: str = Field(max_length=320)
    # The password, or for auth "oauth" the token set (JSON: access, refresh, expiry):
    # either way Fernet-encrypted with MAILSYNC_SECRET_KEY and covered by --rotate-keys.
    password_encrypted: str
    auth: str = Field(default="password", max_length=16)  # password | oauth
    oauth_provider: str | None = Field(default=None, max_length=64)
    needs_reauth: bool = Field(default=False)  # the provider refused the refresh token
    privacy: str = Field(default="snippet", max_length=16)  # minimal|headers|snippet|full
    folders: str = Field(default="INBOX")  # newline-separated; IMAP names may hold commas
    interval_minutes: int = Field(default=5)
    paused: bool = Field(default=False)
    quota_warn: str = Field(default="80,90,95", max_length=64)  # thresholds in percent
    quota_level: int = Field(default=0)  # threshold last warned about; 0 = armed
    retention: str = Field(default="keep", max_length=16)  # POP3: keep | delete | days:N
    mailbox_limit_mb: int | None = None  # POP3: declared size limit for warnings
    mention_role_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    channel_broken: str | None = None  # why posting failed for good (403/404); cleared by edit
    delivery: str = Field(default="instant", max_length=16)  # instant | hourly | daily
    digest_time: str = Field(default="09:00", max_length=5)  # HH:MM, MAILSYNC_TIMEZONE (daily)
    # Buttons on new-mail alerts (SPEC section 8): off | read | triage; IMAP only.
    actions: str = Field(default="off", max_length=8)
    # Members with this role may press them (besides Manage Server); None: Manage Server only.
    actions_role_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    threads: bool = Field(default=False)  # replies go into their conversation's thread or post
    # Replies over SMTP (SPEC section 13, docs/replies.md); smtp_host None: sending is off.
    smtp_host: str | None = Field(default=None, max_length=255)
    smtp_port: int | None = None
    smtp_security: str | None = Field(default=None, max_length=16)  # tls | starttls
    smtp_sent_copy: str = Field(default="auto", max_length=8)  # auto | on | off
    smtp_from: str | None = Field(default=None, max_length=320)
    replies: bool = Field(default=False)
    reply_role_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    signature: str | None = Field(default=None, max_length=500)
    created_by: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @property
    def folder_list(self) -> list[str]:
        return [f for f in self.folders.split("\n") if f]


class FolderStateRow(SQLModel, table=True):
    """(UIDVALIDITY, highest UID seen) per watched IMAP folder."""

    __tablename__ = "folder_state"
    __table_args__ = (UniqueConstraint("account_id", "folder", name="uq_folder_state"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    folder: str
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))
    highest_uid: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow)
    # HIGHESTMODSEQ at the last two-way check of the folder's live alerts (CONDSTORE).
    highest_modseq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class AccountHealth(SQLModel, table=True):
    """How the account's polls are going; one row per account."""

    __tablename__ = "account_health"

    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    )
    last_poll_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str | None = None
    last_error_kind: str | None = Field(default=None, max_length=32)
    consecutive_failures: int = Field(default=0)
    trouble_notified: bool = Field(default=False)  # the 3-failures warning went out
    quota_read_at: datetime | None = None  # last GETQUOTAROOT (or POP3 STAT against a limit)


class QuotaSample(SQLModel, table=True):
    """Usage history for the days-until-full projection (at most one row per 10 minutes)."""

    __tablename__ = "quota_sample"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    at: datetime = Field(default_factory=utcnow)
    usage: int = Field(sa_column=Column(BigInteger, nullable=False))
    limit: int = Field(sa_column=Column(BigInteger, nullable=False))


class ArchivedMessage(SQLModel, table=True):
    """A POP3 message: downloaded bytes (zstd; older rows zlib, see storage/archive_codec.py)
    with metadata, or a baseline row (raw None) for mail on the server before it was added."""

    __tablename__ = "pop3_message"
    __table_args__ = (
        UniqueConstraint("account_id", "uidl", name="uq_pop3_message_uidl"),
        Index("ix_pop3_message_account_downloaded", "account_id", "downloaded_at"),
        Index("ix_pop3_message_unannounced", "account_id", "announced", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    uidl: str = Field(max_length=512)
    message_id: str | None = Field(default=None, max_length=300)
    sender: str = Field(default="", max_length=1000)
    subject: str = Field(default="", max_length=1000)
    sent_at: datetime | None = None
    size: int = Field(default=0)
    raw_compressed: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    downloaded_at: datetime | None = None
    announced: bool = Field(default=False)
    deleted_at: datetime | None = None  # when a confirmed QUIT removed it from the server
    # To and Cc addresses, newline-separated, so routing rules' `to:` works without the bytes.
    to_addrs: str | None = None
    cc_addrs: str | None = None
    # In-Reply-To and References (newline-separated <msg-id>s), so POP3 replies thread too.
    in_reply_to: str | None = Field(default=None, max_length=300)
    reference_ids: str | None = None
    # False while the header fields above are unread: a download commits only the bytes,
    # and storage/archive.py reads the headers of the rows a reader asks for, once.
    headers_read: bool = Field(default=True)


class OutboxAlert(SQLModel, table=True):
    """An alert written before it is sent: a Discord outage or a restart delays it, never
    drops or doubles it (its nonce, sent with every try, lets Discord dedupe a retry)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "sent_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    channel_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    payload: str  # JSON: {"embed": {...}, "role": id | null}
    created_at: datetime = Field(default_factory=utcnow)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    # The routing rule that sent it to another channel (None: the account's channel). No
    # foreign key: removing a rule moves its waiting alerts to the account's channel first.
    rule_id: int | None = None

    # What the sender does with the row (cogs/_deliveries.py): "post" a new message (alerts,
    # notices), "board" post-or-edit an account's status board.
    kind: str = Field(default="post", max_length=16)
    # The Discord message the send created or edited, written with sent_at.
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # The message nonce of every try, drawn when the row is queued (a Core insert too).
    # Not the row id: Discord answers a nonce it saw from the bot in the past minutes with
    # that earlier message and creates none, and ids come back after removals or restores.
    nonce: str = Field(
        default_factory=new_nonce,
        sa_column=Column(String(25), nullable=False, unique=True, default=new_nonce),
    )


class RoutingRule(SQLModel, table=True):
    """`/mail rule add`: mail matching `match` goes to another channel, mentions a role, or
    is not posted (mute). Numbered 1..n by id within the account: a removal renumbers."""

    __tablename__ = "routing_rule"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    match: str = Field(max_length=400)  # normalized terms, e.g. to:billing@ subject:"big order"
    channel_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    mention_role_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    mute: bool = Field(default=False)
    channel_broken: str | None = None  # Discord refused its channel (403/404); alerts wait
    created_at: datetime = Field(default_factory=utcnow)


class DigestItem(SQLModel, table=True):
    """A message waiting for the account's next hourly or daily digest (the fields a digest
    line shows), written in the transaction that passes the message."""

    __tablename__ = "digest_item"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    folder: str = Field(max_length=1000)
    uid: int = Field(sa_column=Column(BigInteger, nullable=False))
    sender: str = Field(default="", max_length=1000)
    subject: str = Field(default="", max_length=1000)
    sent_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Board(SQLModel, table=True):
    """An account's status board (SPEC section 9): one message kept current by edits."""

    __tablename__ = "board"

    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True)
    )
    channel_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    content_hash: str | None = Field(default=None, max_length=64)  # of the last queued embed
    edited_at: datetime | None = None  # when the last post or edit was queued
    broken: str | None = None  # why Discord refused the board's channel; /mail board clears it
    created_at: datetime = Field(default_factory=utcnow)


class LiveAlert(SQLModel, table=True):
    """A new-mail alert with action buttons whose message is followed both ways (SPEC
    section 8): a press changes the mailbox, and a change made in any mail client edits the
    alert. At most 500 per account, none older than 7 days (storage/live_alerts.py)."""

    __tablename__ = "live_alert"
    __table_args__ = (
        Index("ix_live_alert_account_created", "account_id", "created_at"),
        Index("ix_live_alert_account_message", "account_id", "message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    # The folder's FolderStateRow (the "folder key" in button ids); a folder no longer
    # watched takes its live alerts with it.
    folder_id: int = Field(
        sa_column=Column(Integer, ForeignKey("folder_state.id", ondelete="CASCADE"), nullable=False)
    )
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))
    uid: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The outbox row that posts the alert (its embed is what edits start from).
    outbox_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False, unique=True
        )
    )
    channel_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    # The Discord message, written when the outbox sends the post (outbox.mark_sent).
    message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # The flags the alert shows (None: not read from the server yet).
    seen: bool | None = None
    flagged: bool | None = None
    deleted: bool | None = None
    state: str = Field(default="present", max_length=16)  # present | moved | gone
    # What the status line says: a press ("read", "archive" ... with event_by the member),
    # "client:read+flag" (another mail client), "gone", "reset" (UIDVALIDITY changed).
    event: str | None = Field(default=None, max_length=48)
    event_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)


class ThreadLink(SQLModel, table=True):
    """threads:on: a Message-ID an alert announced, and where its conversation lives in
    Discord. Written in the transaction that marks the alert sent; kept 90 days."""

    __tablename__ = "thread_link"
    __table_args__ = (
        UniqueConstraint("account_id", "channel_id", "message_ref", name="uq_thread_link"),
        Index("ix_thread_link_created_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    channel_id: int = Field(sa_column=Column(BigInteger, nullable=False))  # text or forum
    message_ref: str = Field(max_length=300)  # the mail's Message-ID, <...>
    # The alert a thread starts from (text channel), or the forum post (its id = the thread's).
    root_message_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    thread_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    title: str | None = Field(default=None, max_length=100)  # the conversation's thread name
    created_at: datetime = Field(default_factory=utcnow)


class OutgoingMail(SQLModel, table=True):
    """A reply or new message sent from Discord, stored (state `queued`) in one transaction
    before SMTP starts: `sending` from right before DATA, then `sent` (accepted), `failed`
    (a permanent refusal or an hour of temporary ones), `unknown` (the process died
    between DATA and the commit; only a member's Resend sends it again) or `discarded`."""

    __tablename__ = "outgoing"
    __table_args__ = (Index("ix_outgoing_account_created", "account_id", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(
        sa_column=Column(Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False)
    )
    sent_by: int = Field(sa_column=Column(BigInteger, nullable=False))  # the member
    message_ref: str = Field(max_length=300, unique=True)  # its Message-ID, <...>
    state: str = Field(default="queued", max_length=16)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # exactly what is sent
    sender: str = Field(max_length=320)
    recipients: str  # newline-separated envelope recipients
    to_addrs: str
    cc_addrs: str = ""
    subject: str = Field(default="", max_length=300)
    body: str = ""  # the text as typed (for the thread message at the account's privacy)
    attachments: str = ""  # newline-separated file names
    in_reply_to: str | None = Field(default=None, max_length=300)
    reference_ids: str | None = None  # newline-separated, the parent's thread (placement)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow)
    error: str | None = None  # the last refusal, as the server said it
    sent_copy: str | None = Field(default=None, max_length=16)  # done | failed | skipped
    # The alert replied to (its "Replied by" line), when the reply came from its buttons.
    alert_channel_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    alert_message_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class GuildLanguage(SQLModel, table=True):
    """The language a guild's channel posts use (SPEC section 14); no row means `auto`."""

    __tablename__ = "guild_language"

    guild_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    language: str = Field(max_length=16)  # en, es, pt-BR
    updated_at: datetime = Field(default_factory=utcnow)
