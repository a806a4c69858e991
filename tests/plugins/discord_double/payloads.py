"""The JSON shapes Discord uses for users, roles, channels, members, guilds and the app."""

from __future__ import annotations

from typing import Any

from .specs import ChannelSpec, GuildSpec, MemberSpec, RoleSpec, snowflake


class PayloadsMixin:
    """Payload builders of `DiscordDouble` (bot identity, guild state as discord.py reads it)."""

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": str(self.bot_user_id),
            "username": self.bot_name,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
            "bot": True,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "banner": None,
            "accent_color": None,
        }

    @staticmethod
    def _user(member: MemberSpec) -> dict[str, Any]:
        return {
            "id": str(member.user_id),
            "username": member.name,
            "discriminator": "0",
            "global_name": member.name.title(),
            "avatar": None,
            "bot": member.bot,
            "public_flags": 0,
        }

    def _app_info(self) -> dict[str, Any]:
        owner = self.guild.member(self.guild.owner_id) if self.guilds else None
        owner_user = self._user(owner) if owner else self.bot_user()
        return {
            "id": str(self.application_id),
            "name": self.bot_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": owner_user,
            "team": None,
            "flags": self.application_flags,
            "bot": self.bot_user(),
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
            "approximate_guild_count": len(self.guilds),
            "integration_types_config": {"0": {}},
        }

    def _gateway_bot(self) -> dict[str, Any]:
        return {
            "url": self.ws_url,
            "shards": self.shard_count,  # as Discord: how many shards the bot should run
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }

    def _role_payload(self, role: RoleSpec) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(role.id),
            "name": role.name,
            "permissions": str(role.permissions),
            "position": role.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": role.managed,
            "mentionable": role.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if role.tags is not None:
            payload["tags"] = role.tags
        return payload

    def _bot_role(self, guild: GuildSpec) -> RoleSpec:
        return RoleSpec(
            id=self._bot_role_ids.setdefault(guild.id, snowflake()),
            name=self.bot_name,
            permissions=guild.bot_permissions,
            position=len(guild.roles) + 1,
            mentionable=False,
            managed=True,
            tags={"bot_id": str(self.bot_user_id)},
        )

    def _roles_payload(self, guild: GuildSpec) -> list[dict[str, Any]]:
        everyone = RoleSpec(
            id=guild.id, name="@everyone", permissions=guild.everyone_permissions, position=0
        )
        return [self._role_payload(r) for r in (everyone, *guild.roles, self._bot_role(guild))]

    def _channel_payload(
        self, guild: GuildSpec, channel: ChannelSpec, *, permissions: int | None = None
    ) -> dict[str, Any]:
        if channel.type in (10, 11, 12):  # a thread (threads.py)
            return self._thread_payload(guild, channel, permissions=permissions)
        payload: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "guild_id": str(guild.id),
            "name": channel.name,
            "position": channel.position or 0,
            "parent_id": str(channel.parent_id) if channel.parent_id else None,
            "permission_overwrites": list(channel.permission_overwrites),
            "nsfw": channel.nsfw,
            "flags": 0,
        }
        if channel.type in (0, 5, 15, 16):
            payload.update(
                topic=channel.topic,
                last_message_id=None,
                rate_limit_per_user=0,
                default_auto_archive_duration=1440,
            )
        if channel.type in (15, 16):  # forum, media
            payload.update(
                available_tags=[],
                default_reaction_emoji=None,
                default_sort_order=None,
                default_forum_layout=0,
                default_thread_rate_limit_per_user=0,
            )
        if channel.type in (2, 13):
            payload.update(bitrate=64000, user_limit=0, rtc_region=None, video_quality_mode=1)
        if permissions is not None:
            payload["permissions"] = str(permissions)
        return payload

    def _member_payload(
        self, guild: GuildSpec, member: MemberSpec, *, permissions: int | None = None
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "user": self._user(member),
            "nick": member.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in member.roles],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        if permissions is not None:
            payload["permissions"] = str(permissions)
        return payload

    def _bot_member_payload(self, guild: GuildSpec) -> dict[str, Any]:
        return {
            "user": self.bot_user(),
            "nick": None,
            "avatar": None,
            "roles": [str(self._bot_role(guild).id)],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }

    def _guild_payload(self, guild: GuildSpec, *, include_members: bool) -> dict[str, Any]:
        members = [self._bot_member_payload(guild)]
        if include_members:
            members += [self._member_payload(guild, m) for m in guild.members]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "preferred_locale": guild.locale,
            "features": list(guild.features),
            "max_members": 500_000,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "application_id": None,
            "roles": self._roles_payload(guild),
            "emojis": [],
            "stickers": [],
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members) + 1,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "lazy": True,
            "channels": [self._channel_payload(guild, c) for c in guild.channels],
            "threads": [],
            "members": members,
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "incidents_data": None,
        }
