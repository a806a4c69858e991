"""Roles and members changed while the bot runs: a new role, a new member, a member's roles.
Each change reaches discord.py as Discord sends it (GUILD_ROLE_CREATE, GUILD_MEMBER_ADD,
GUILD_MEMBER_UPDATE); interactions then carry the member's roles and the permissions
computed from them (GuildSpec.permissions_of: @everyone, the roles, Administrator = all)."""

from __future__ import annotations

from collections.abc import Sequence

from .specs import MANAGE_GUILD, MemberSpec, RoleSpec


class MembersMixin:
    """Role and member changes of `DiscordDouble`."""

    async def add_role(
        self, guild_id: int, name: str, permissions: int = 0, *, mentionable: bool = True
    ) -> RoleSpec:
        guild = self.get_guild(guild_id)
        position = max((r.position for r in guild.roles), default=0) + 1
        role = RoleSpec(
            name=name, permissions=permissions, position=position, mentionable=mentionable
        )
        guild.roles.append(role)
        payload = {"guild_id": str(guild.id), "role": self._role_payload(role)}
        await self._tell("GUILD_ROLE_CREATE", payload)
        return role

    async def add_member(
        self, guild_id: int, name: str, roles: Sequence[int] = (), *, nick: str | None = None
    ) -> MemberSpec:
        """A member whose permissions follow @everyone and ``roles``."""
        guild = self.get_guild(guild_id)
        member = MemberSpec(name=name, roles=[int(r) for r in roles], nick=nick)
        guild.members.append(member)
        payload = {**self._member_payload(guild, member), "guild_id": str(guild.id)}
        await self._tell("GUILD_MEMBER_ADD", payload)
        return member

    async def set_member_roles(self, guild_id: int, user_id: int, roles: Sequence[int]) -> None:
        guild = self.get_guild(guild_id)
        member = guild.member(user_id)
        member.roles = [int(r) for r in roles]
        payload = {**self._member_payload(guild, member), "guild_id": str(guild.id)}
        await self._tell("GUILD_MEMBER_UPDATE", payload)

    def has_manage_guild(self, guild_id: int, user_id: int) -> bool:
        """Whether the member's computed permissions include Manage Server."""
        guild = self.get_guild(guild_id)
        return bool(guild.permissions_of(guild.member(user_id)) & MANAGE_GUILD)

    async def _tell(self, event: str, payload: dict) -> None:
        if self._sessions:  # before the bot connects, GUILD_CREATE will carry it
            await self.dispatch(event, payload)
