"""Driving interactions the way Discord sends them: slash commands, autocomplete, modal
submits and button clicks, built from the commands the bot synced."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from .records import InteractionHandle, _Interaction
from .specs import GuildSpec, RoleSpec, _now_iso, snowflake

_OPTION_STRING, _OPTION_INTEGER, _OPTION_BOOLEAN = 3, 4, 5
_OPTION_USER, _OPTION_CHANNEL, _OPTION_ROLE, _OPTION_MENTIONABLE = 6, 7, 8, 9
_OPTION_NUMBER, _OPTION_ATTACHMENT = 10, 11
_LIST_VALUE_COMPONENTS = frozenset({3, 5, 6, 7, 8, 19, 22})


class InteractionsMixin:
    """Interaction drivers of `DiscordDouble`."""

    def _command_definition(self, guild_id: int | None, name: str) -> tuple[dict, int | None]:
        scopes: list[int | None] = [None] if guild_id is None else [int(guild_id), None]
        for scope in scopes:
            for command in self._commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command, scope
        known = {str(k): [c["name"] for c in v] for k, v in self._commands.items()}
        raise LookupError(f"command {name!r} was never synced (synced: {known}); sync first")

    def _interaction(
        self,
        type_: int,
        guild_id: int,
        channel_id: int,
        user_id: int,
        data: dict[str, Any],
        *,
        permissions: int | None = None,
        message: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> _Interaction:
        guild = self.get_guild(guild_id)
        channel = self._channel_of(guild, channel_id)  # a thread too
        member = guild.member(user_id)
        perms = guild.permissions_of(member) if permissions is None else int(permissions)
        interaction_id = snowflake()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": type_,
            "data": data,
            "guild": {
                "id": str(guild.id),
                "locale": guild.locale,
                "features": list(guild.features),
            },
            "guild_id": str(guild.id),
            "channel": self._channel_payload(guild, channel, permissions=perms),
            "channel_id": str(channel.id),
            "member": self._member_payload(guild, member, permissions=perms),
            "token": token,
            "version": 1,
            "app_permissions": str(guild.bot_permissions),
            "locale": locale,  # the member's client language
            "guild_locale": guild.locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if message is not None:
            payload["message"] = message
        record = _Interaction(interaction_id, token, type_, payload, guild.id, channel.id)
        self._interactions[token] = record
        return record

    async def _send_interaction(self, record: _Interaction) -> InteractionHandle:
        await self.dispatch("INTERACTION_CREATE", record.payload)
        return InteractionHandle(self, record)

    def _command_data(
        self,
        guild_id: int,
        name: str,
        options: Mapping[str, Any],
        *,
        user_id: int,
        permissions: int | None,
        focused: str | None = None,
    ) -> dict[str, Any]:
        parts = name.split()
        command, scope = self._command_definition(guild_id, parts[0])
        guild = self.get_guild(guild_id)
        if permissions is None:
            permissions = guild.permissions_of(guild.member(user_id))
        resolved: dict[str, dict[str, Any]] = {}
        definitions = command.get("options") or []
        nesting: list[tuple[int, str]] = []
        for part in parts[1:]:
            sub = next((o for o in definitions if o["name"] == part and o["type"] in (1, 2)), None)
            if sub is None:
                raise LookupError(f"{command['name']!r} has no subcommand or group {part!r}")
            nesting.append((sub["type"], part))
            definitions = sub.get("options") or []
        values = dict(options)
        if focused is not None and focused not in values:
            values[focused] = ""
        leaf = []
        for key, value in values.items():
            definition = next((o for o in definitions if o["name"] == key), None)
            if definition is None:
                names = [o["name"] for o in definitions]
                raise LookupError(f"/{name} has no option {key!r} (has {names})")
            option = {"name": key, "type": definition["type"]}
            if key == focused:
                option["value"] = str(value)
                option["focused"] = True
            else:
                option["value"] = self._option_value(
                    guild, definition["type"], value, resolved, permissions
                )
            leaf.append(option)
        tree: list[dict[str, Any]] = leaf
        for sub_type, sub_name in reversed(nesting):
            tree = [{"type": sub_type, "name": sub_name, "options": tree}]
        data: dict[str, Any] = {
            "id": command["id"],
            "name": command["name"],
            "type": 1,
            "options": tree,
        }
        if resolved:
            data["resolved"] = resolved
        if scope is not None:
            data["guild_id"] = str(scope)
        return data

    def _option_value(
        self,
        guild: GuildSpec,
        type_: int,
        value: Any,
        resolved: dict[str, dict[str, Any]],
        permissions: int,
    ) -> Any:
        if type_ == _OPTION_STRING:
            return str(value)
        if type_ == _OPTION_INTEGER:
            return int(value)
        if type_ == _OPTION_BOOLEAN:
            return bool(value)
        if type_ == _OPTION_NUMBER:
            return float(value)
        if type_ == _OPTION_ATTACHMENT:  # a dict: id, filename, size, url (served by the test)
            attachment = {"proxy_url": value["url"], **value, "id": str(value["id"])}
            resolved.setdefault("attachments", {})[attachment["id"]] = attachment
            return attachment["id"]
        ident = int(getattr(value, "id", getattr(value, "user_id", value)))
        if type_ == _OPTION_CHANNEL:
            channel = guild.channel(ident)
            # "permissions" here is what the invoking member may do in that channel
            payload = self._channel_payload(guild, channel, permissions=permissions)
            resolved.setdefault("channels", {})[str(ident)] = payload
            return str(ident)
        role = self._all_roles(guild).get(ident)
        if type_ == _OPTION_ROLE or (type_ == _OPTION_MENTIONABLE and role is not None):
            if role is None:
                raise LookupError(f"guild {guild.id} has no role {ident}")
            resolved.setdefault("roles", {})[str(ident)] = self._role_payload(role)
            return str(ident)
        if type_ in (_OPTION_USER, _OPTION_MENTIONABLE):
            member = guild.member(ident)
            resolved.setdefault("users", {})[str(ident)] = self._user(member)
            member_payload = self._member_payload(
                guild, member, permissions=guild.permissions_of(member)
            )
            member_payload.pop("user")
            resolved.setdefault("members", {})[str(ident)] = member_payload
            return str(ident)
        raise NotImplementedError(f"option type {type_} is not supported by the double")

    def _all_roles(self, guild: GuildSpec) -> dict[int, RoleSpec]:
        everyone = RoleSpec(id=guild.id, name="@everyone", permissions=guild.everyone_permissions)
        roles = {r.id: r for r in guild.roles}
        roles[guild.id] = everyone
        return roles

    async def slash_command(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any] | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Invoke a synced chat-input command. ``name`` may be "group sub" or "group sub sub".

        Option types come from the synced definition; channel, role, user and mentionable
        values (ids or specs) are put into ``data.resolved`` as Discord does.
        ``permissions`` overrides the member's resolved permissions in the payload;
        ``locale`` is the member's client language (Interaction.locale).
        """
        data = self._command_data(
            guild_id, name, options or {}, user_id=user_id, permissions=permissions
        )
        record = self._interaction(
            2, guild_id, channel_id, user_id, data, permissions=permissions, locale=locale
        )
        return await self._send_interaction(record)

    async def autocomplete(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any] | None,
        focused: str,
        permissions: int | None = None,
    ) -> InteractionHandle:
        """An autocomplete interaction (type 4); ``options[focused]`` is the typed text."""
        data = self._command_data(
            guild_id, name, options or {}, user_id=user_id, permissions=permissions, focused=focused
        )
        record = self._interaction(4, guild_id, channel_id, user_id, data, permissions=permissions)
        return await self._send_interaction(record)

    async def autocomplete_choices(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        name: str,
        options: Mapping[str, Any] | None,
        focused: str,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:
        """Run ``autocomplete`` and return the bot's choices (callback type 8)."""
        handle = await self.autocomplete(guild_id, channel_id, user_id, name, options, focused)
        reply = await handle.wait_for_reply(kind="callback", timeout=timeout)
        if reply["type"] != 8:
            raise AssertionError(f"autocomplete answered with callback type {reply['type']}")
        return list(reply["body"]["data"]["choices"])

    async def submit_modal(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        custom_id: str | None = None,
        values: Mapping[str, Any] | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Submit a modal the bot showed (type 5 MODAL_SUBMIT).

        ``custom_id`` picks the modal (default: the last one shown). ``values`` are keyed by a
        component's custom_id or by its label; text inputs take str, selects and checkbox
        groups a list, a checkbox a bool. The submission mirrors the modal's layout: action
        rows (type 1) hold the inputs directly, labels (type 18) hold one ``component``.
        """
        modal = self._last_modal if custom_id is None else self._modals.get(custom_id)
        if modal is None and custom_id is None:
            raise LookupError("the bot has not shown any modal yet")
        values = dict(values or {})
        if modal is None:  # an unknown modal: build rows straight from the values
            components = [
                {"type": 1, "components": [{"type": 4, "custom_id": k, "value": str(v)}]}
                for k, v in values.items()
            ]
        else:
            components = _submitted_components(modal.get("components") or [], values)
            if values:
                raise LookupError(f"modal {modal.get('custom_id')!r} has no inputs {list(values)}")
        data = {"custom_id": custom_id or modal["custom_id"], "components": components}
        record = self._interaction(
            5, guild_id, channel_id, user_id, data, permissions=permissions, locale=locale
        )
        return await self._send_interaction(record)

    async def click_button(
        self,
        guild_id: int,
        channel_id: int,
        user_id: int,
        custom_id: str,
        message_id: int,
        *,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Press a button (or pick ``values`` in a select, ``component_type`` 3) on a message."""
        message = self._messages.get(int(message_id))
        if message is None:
            message = {
                "id": str(message_id),
                "channel_id": str(channel_id),
                "author": self.bot_user(),
                "content": "",
                "timestamp": _now_iso(),
                "edited_timestamp": None,
                "tts": False,
                "mention_everyone": False,
                "mentions": [],
                "mention_roles": [],
                "attachments": [],
                "embeds": [],
                "pinned": False,
                "type": 0,
                "flags": 0,
                "components": [],
            }
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        record = self._interaction(
            3,
            guild_id,
            channel_id,
            user_id,
            data,
            permissions=permissions,
            message=message,
            locale=locale,
        )
        return await self._send_interaction(record)


def _submitted_components(
    components: list[dict[str, Any]], values: dict[str, Any]
) -> list[dict[str, Any]]:
    """The MODAL_SUBMIT ``data.components`` for a modal's definition; pops used ``values``."""
    counter = itertools.count(1)

    def answer(component: dict[str, Any], label: str | None) -> dict[str, Any] | None:
        custom_id = component.get("custom_id")
        if custom_id is None:
            return None
        out: dict[str, Any] = {
            "type": component["type"],
            "id": component.get("id", next(counter)),
            "custom_id": custom_id,
        }
        if custom_id in values:
            given = values.pop(custom_id)
        elif label is not None and label in values:
            given = values.pop(label)
        else:
            given = _UNSET
        if component["type"] in _LIST_VALUE_COMPONENTS:
            out["values"] = [] if given is _UNSET else [str(v) for v in given]
        elif component["type"] == 23:  # checkbox
            out["value"] = False if given is _UNSET else bool(given)
        elif component["type"] == 21:  # radio group
            out["value"] = None if given is _UNSET else str(given)
        else:  # text input
            out["value"] = component.get("value", "") if given is _UNSET else str(given)
        return out

    submitted: list[dict[str, Any]] = []
    for component in components:
        if component["type"] == 1:
            inner = [answer(c, c.get("label")) for c in component.get("components", [])]
            row = {"type": 1, "id": component.get("id", next(counter))}
            row["components"] = [c for c in inner if c is not None]
            submitted.append(row)
        elif component["type"] == 18:
            inner = answer(component["component"], component.get("label"))
            if inner is not None:
                label_id = component.get("id", next(counter))
                submitted.append({"type": 18, "id": label_id, "component": inner})
        elif component["type"] == 10:  # text display: echoed by id only
            submitted.append({"type": 10, "id": component.get("id", next(counter))})
    return submitted


_UNSET = object()
