"""Message components as a member meets them: the buttons on a stored message, and pressing
one (INTERACTION_CREATE type 3, MESSAGE_COMPONENT) as Discord's client would let a member
do: only a button that is on the message and enabled."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .records import InteractionHandle

BUTTON = 2
LINK_STYLE = 5
PREMIUM_STYLE = 6


def _walk(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every component, rows and containers included, depth first."""
    for component in components:
        yield component
        yield from _walk(component.get("components") or [])
        if isinstance(component.get("component"), dict):  # a label's or section's child
            yield from _walk([component["component"]])
        if isinstance(component.get("accessory"), dict):
            yield from _walk([component["accessory"]])


class ComponentsMixin:
    """Buttons of stored messages and pressing them, for `DiscordDouble`."""

    def buttons(self, message_id: int) -> list[dict[str, Any]]:
        """The buttons of a stored message, in order: each as sent by the bot (``custom_id``,
        ``label``, ``style``, ``disabled``...). Empty for a message without any."""
        message = self._messages.get(int(message_id))
        if message is None:
            raise LookupError(f"the double stores no message {message_id}")
        return [c for c in _walk(message.get("components") or []) if c.get("type") == BUTTON]

    def button_labels(self, message_id: int) -> list[str]:
        """The labels of a message's enabled buttons, in order (what a member can press)."""
        return [b.get("label") or "" for b in self.buttons(message_id) if not b.get("disabled")]

    async def press(
        self,
        message_id: int,
        user_id: int,
        *,
        custom_id: str | None = None,
        label: str | None = None,
        permissions: int | None = None,
    ) -> InteractionHandle:
        """Press a button of a stored message as member ``user_id`` of the message's guild,
        found by ``custom_id`` or by ``label`` (exactly one). The interaction carries the
        message as stored now, and the member with roles and resolved permissions
        (``permissions`` overrides them). Refuses, as Discord's client would, a message
        without that button, a disabled one, or a link button (LookupError)."""
        if (custom_id is None) == (label is None):
            raise ValueError("give exactly one of custom_id and label")
        message = self._messages.get(int(message_id))
        if message is None:
            raise LookupError(f"the double stores no message {message_id}")
        if message.get("flags", 0) & 64:
            raise LookupError("an ephemeral message: press it through its interaction")
        buttons = self.buttons(message_id)
        key, wanted = ("custom_id", custom_id) if custom_id is not None else ("label", label)
        button = next((b for b in buttons if b.get(key) == wanted), None)
        if button is None:
            have = [(b.get("label"), b.get("custom_id")) for b in buttons]
            raise LookupError(f"message {message_id} has no button {key}={wanted!r}: {have}")
        if button.get("disabled"):
            raise LookupError(f"button {wanted!r} is disabled: Discord lets nobody press it")
        if button.get("style") in (LINK_STYLE, PREMIUM_STYLE) or not button.get("custom_id"):
            raise LookupError(f"button {wanted!r} opens a link: it sends no interaction")
        channel_id = int(message["channel_id"])
        found = self._find_channel(channel_id)
        if found is None:
            raise LookupError(f"message {message_id} is in no known channel")
        guild, _channel = found
        data = {"custom_id": button["custom_id"], "component_type": BUTTON}
        if button.get("id") is not None:
            data["id"] = button["id"]
        record = self._interaction(
            3, guild.id, channel_id, user_id, data, permissions=permissions, message=message
        )
        return await self._send_interaction(record)
