"""What the double serves: guild, channel, role and member specs, ids and permissions."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import discord

MANAGE_GUILD = 1 << 5
ADMINISTRATOR = 1 << 3
#: What a plain member may do: view, send, embed, attach, history, react, use commands.
EVERYONE_PERMISSIONS = (
    (1 << 0)  # create instant invite
    | (1 << 6)  # add reactions
    | (1 << 10)  # view channel
    | (1 << 11)  # send messages
    | (1 << 14)  # embed links
    | (1 << 15)  # attach files
    | (1 << 16)  # read message history
    | (1 << 18)  # use external emojis
    | (1 << 26)  # change nickname
    | (1 << 31)  # use application commands
)
#: Everything, which includes Administrator (0x8) and Manage Server (0x20).
ADMIN_PERMISSIONS = discord.Permissions.all().value
#: The bot's managed role: what Mailsync needs to post alerts and mention a role.
BOT_PERMISSIONS = EVERYONE_PERMISSIONS | (1 << 17)  # + mention everyone / any role

_DISCORD_EPOCH_MS = 1_420_070_400_000
_increment = itertools.count(1)


def snowflake() -> int:
    """A fresh Discord-style snowflake (time-based, unique within the process)."""
    ms = int(time.time() * 1000) - _DISCORD_EPOCH_MS
    return (ms << 22) | (next(_increment) & 0x3FFFFF)


def snowflake_on_shard(shard_id: int, shard_count: int) -> int:
    """A fresh snowflake whose guild would be on `shard_id` of `shard_count`
    (`(id >> 22) % shard_count`, as Discord assigns guilds to shards)."""
    value = snowflake()
    return value + (((shard_id - (value >> 22)) % shard_count) << 22)


def _now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class ChannelSpec:
    """A guild channel. ``type`` 0 is a text channel, 4 a category, 2 a voice channel."""

    id: int = field(default_factory=snowflake)
    name: str = "alerts"
    type: int = 0
    topic: str | None = None
    position: int | None = None
    parent_id: int | None = None
    nsfw: bool = False
    permission_overwrites: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RoleSpec:
    """A guild role (the @everyone role is added automatically with the guild's id)."""

    id: int = field(default_factory=snowflake)
    name: str = "role"
    permissions: int = 0
    position: int = 1
    mentionable: bool = True
    managed: bool = False
    tags: dict[str, Any] | None = None


@dataclass
class MemberSpec:
    """A guild member. ``permissions`` is what interactions carry as the resolved permissions;
    when ``None`` it is computed from @everyone and the member's roles."""

    user_id: int = field(default_factory=snowflake)
    name: str = "member"
    permissions: int | None = None
    roles: list[int] = field(default_factory=list)
    bot: bool = False
    nick: str | None = None


@dataclass
class GuildSpec:
    """A guild the bot is in. Defaults: two text channels, an admin and a plain member."""

    id: int = field(default_factory=snowflake)
    name: str = "Mailsync Test Guild"
    channels: list[ChannelSpec] = field(default_factory=list)
    roles: list[RoleSpec] = field(default_factory=list)
    members: list[MemberSpec] = field(default_factory=list)
    owner_id: int | None = None
    everyone_permissions: int = EVERYONE_PERMISSIONS
    bot_permissions: int = BOT_PERMISSIONS
    locale: str = "en-US"  # preferred_locale
    features: tuple[str, ...] = ()  # e.g. ("COMMUNITY",)

    def __post_init__(self) -> None:
        if not self.channels:
            self.channels = [ChannelSpec(name="alerts"), ChannelSpec(name="general")]
        if not self.members:
            admin_role = RoleSpec(name="Admins", permissions=ADMIN_PERMISSIONS, position=2)
            self.roles = [admin_role, RoleSpec(name="Mail Watchers", position=1), *self.roles]
            self.members = [
                MemberSpec(name="admin", roles=[admin_role.id]),
                MemberSpec(name="member", permissions=self.everyone_permissions),
            ]
        if self.owner_id is None:
            self.owner_id = self.members[0].user_id
        for position, channel in enumerate(self.channels):
            if channel.position is None:
                channel.position = position

    def channel(self, channel_id: int) -> ChannelSpec:
        for channel in self.channels:
            if channel.id == int(channel_id):
                return channel
        raise KeyError(f"guild {self.id} has no channel {channel_id}")

    def role(self, role_id: int) -> RoleSpec | None:
        return next((r for r in self.roles if r.id == int(role_id)), None)

    def member(self, user_id: int) -> MemberSpec:
        for member in self.members:
            if member.user_id == int(user_id):
                return member
        raise KeyError(f"guild {self.id} has no member {user_id}")

    def permissions_of(self, member: MemberSpec) -> int:
        if member.permissions is not None:
            return member.permissions
        value = self.everyone_permissions
        for role_id in member.roles:
            role = self.role(role_id)
            if role is not None:
                value |= role.permissions
        if value & ADMINISTRATOR:
            value = ADMIN_PERMISSIONS
        return value
