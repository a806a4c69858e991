"""Messages the bot creates or changes: interaction callbacks, followups, webhook edits and
channel posts, kept as Discord message objects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .records import RecordedRequest, _Interaction
from .specs import _now_iso, snowflake
from .wire import _error, _json


class MessagesMixin:
    """Message routes and the message store of `DiscordDouble`."""

    # -- interaction callbacks and webhooks

    def _callback(self, r: RecordedRequest, interaction_id: str, token: str) -> web.Response:
        record = self._interactions.get(token)
        if record is None or record.id != int(interaction_id):
            return _error(404, "Unknown interaction", 10062)
        if record.responded:
            return _error(400, "Interaction has already been acknowledged.", 40060)
        body = r.json if isinstance(r.json, dict) else {}
        cb_type = int(body.get("type", 0))
        data = body.get("data") or {}
        record.responded = True
        record.callback_type = cb_type
        message: dict[str, Any] | None = None
        interaction_info: dict[str, Any] = {"id": str(record.id), "type": record.type}
        if cb_type == 4:
            message = self._new_message(record.channel_id, data, r.files, interaction=record)
        elif cb_type == 5:
            flags = int(data.get("flags", 0)) | 128  # LOADING
            message = self._new_message(record.channel_id, {"flags": flags}, [], interaction=record)
            interaction_info["response_message_loading"] = True
        elif cb_type == 6 and record.payload.get("message"):  # deferred update
            record.original = self._messages.get(int(record.payload["message"]["id"]))
        elif cb_type == 7 and record.payload.get("message"):
            message = self._edit_existing(int(record.payload["message"]["id"]), data, r.files)
            record.original = message  # later edits of @original change it again
        elif cb_type == 9:
            record.modal = data
            self._modals[str(data.get("custom_id"))] = data
            self._last_modal = data
        if message is not None and cb_type in (4, 5):
            record.original = message
            interaction_info["response_message_id"] = message["id"]
            interaction_info["response_message_ephemeral"] = bool(message["flags"] & 64)
        self._reply(record, "callback", r, type=cb_type, message_id=message and message["id"])
        if r.query.get("with_response", "").lower() not in ("1", "true"):
            return web.Response(status=204)  # Discord answers 204 without ?with_response
        resource: dict[str, Any] = {"type": cb_type}
        if message is not None:
            resource["message"] = message
        return _json({"interaction": interaction_info, "resource": resource})

    def _reply(
        self, record: _Interaction, kind: str, r: RecordedRequest, *, type=None, message_id=None
    ) -> None:
        record.replies.append(
            {
                "kind": kind,
                "type": type,
                "body": r.json,
                "files": r.files,
                "message_id": message_id,
                "index": r.index,
            }
        )

    def _hook_record(self, app_id: str, token: str) -> _Interaction | None:
        if int(app_id) != self.application_id:
            return None
        return self._interactions.get(token)

    def _followup(self, r: RecordedRequest, app_id: str, token: str) -> web.Response:
        record = self._hook_record(app_id, token)
        if record is None:
            return _error(404, "Unknown Webhook", 10015)
        if not record.responded:  # as Discord: no followups before the first response
            return _error(404, "Unknown Webhook", 10015)
        body = r.json if isinstance(r.json, dict) else {}
        message = self._new_message(record.channel_id, body, r.files, interaction=record)
        self._reply(record, "followup", r, message_id=message["id"])
        return _json(message)

    def _hook_target(self, record: _Interaction, which: str) -> dict[str, Any] | None:
        if which == "@original":
            return record.original
        return self._messages.get(int(which))

    def _webhook_get(self, r: RecordedRequest, app_id: str, token: str, which: str):
        record = self._hook_record(app_id, token)
        if record is None:
            return _error(404, "Unknown Webhook", 10015)
        message = self._hook_target(record, which)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        self._reply(record, "get", r, message_id=message["id"])
        return _json(message)

    def _webhook_edit(self, r: RecordedRequest, app_id: str, token: str, which: str):
        record = self._hook_record(app_id, token)
        if record is None:
            return _error(404, "Unknown Webhook", 10015)
        message = self._hook_target(record, which)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        body = r.json if isinstance(r.json, dict) else {}
        message = self._edit_existing(int(message["id"]), body, r.files)
        if which == "@original":
            record.original = message
        self._reply(record, "edit", r, message_id=message["id"])
        return _json(message)

    def _webhook_delete(self, r: RecordedRequest, app_id: str, token: str, which: str):
        record = self._hook_record(app_id, token)
        if record is None:
            return _error(404, "Unknown Webhook", 10015)
        message = self._hook_target(record, which)
        if message is None:
            return _error(404, "Unknown Message", 10008)
        self._messages.pop(int(message["id"]), None)
        if which == "@original":
            record.original = None
        self._reply(record, "delete", r, message_id=message["id"])
        return web.Response(status=204)

    # -- channels and messages

    def _post_message(self, r: RecordedRequest, channel_id: str) -> web.Response:
        found = self._find_channel(int(channel_id))
        if found is None:
            return _error(404, "Unknown Channel", 10003)
        if found[1].type in (4, 15, 16):  # category, forum, media: posts are threads there
            return _error(400, "Cannot send messages in a non-text channel", 50008)
        body = r.json if isinstance(r.json, dict) else {}
        if not (body.get("content") or body.get("embeds") or r.files or body.get("components")):
            return _error(400, "Cannot send an empty message", 50006)
        # Like Discord: with enforce_nonce, a nonce the same author used in the past few
        # minutes (in any channel) returns that message and creates none (nonces.py).
        author, nonce = str(self.bot_user_id), body.get("nonce")
        enforced = bool(body.get("enforce_nonce")) and nonce is not None
        if enforced and (earlier := self._nonces.earlier(author, nonce)) is not None:
            return _json(earlier)
        message = self._new_message(int(channel_id), body, r.files)
        if enforced:
            self._nonces.remember(author, nonce, message)
        self._channel_posts.setdefault(int(channel_id), []).append(body)
        return _json(message)

    def _get_message(self, r: RecordedRequest, channel_id: str, message_id: str):
        message = self._messages.get(int(message_id))
        if message is None or message["channel_id"] != channel_id:
            return _error(404, "Unknown Message", 10008)
        return _json(message)

    def _edit_message(self, r: RecordedRequest, channel_id: str, message_id: str):
        message = self._messages.get(int(message_id))
        if message is None or message["channel_id"] != channel_id:
            return _error(404, "Unknown Message", 10008)
        body = r.json if isinstance(r.json, dict) else {}
        return _json(self._edit_existing(int(message_id), body, r.files))

    def _delete_message(self, r: RecordedRequest, channel_id: str, message_id: str):
        message = self._messages.get(int(message_id))
        if message is None or message["channel_id"] != channel_id:
            return _error(404, "Unknown Message", 10008)
        del self._messages[int(message_id)]
        return web.Response(status=204)

    # -- the message store

    def remove_message(self, message_id: int) -> bool:
        """A member deletes the message in their client (the bot is not told)."""
        return self._messages.pop(int(message_id), None) is not None

    def _new_message(
        self,
        channel_id: int | None,
        body: Mapping[str, Any],
        files: list[dict[str, Any]],
        *,
        interaction: _Interaction | None = None,
    ) -> dict[str, Any]:
        message_id = snowflake()
        message: dict[str, Any] = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "author": self.bot_user(),
            "content": body.get("content") or "",
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": _attachments(files, body, channel_id),
            "embeds": list(body.get("embeds") or []),
            "reactions": [],
            "pinned": False,
            "type": 0,
            "flags": int(body.get("flags") or 0),
            "components": list(body.get("components") or []),
        }
        if body.get("nonce") is not None:
            message["nonce"] = body["nonce"]
        if interaction is not None:
            message["webhook_id"] = str(self.application_id)
            message["application_id"] = str(self.application_id)
            message["type"] = 20 if interaction.type == 2 else 19 if interaction.type == 3 else 0
        self._messages[message_id] = message
        return message

    def _edit_existing(
        self, message_id: int, body: Mapping[str, Any], files: list[dict[str, Any]]
    ) -> dict[str, Any]:
        message = self._messages.get(message_id)
        if message is None:  # e.g. a component on a message the double never saw
            message = self._new_message(None, {}, [])
            self._messages.pop(int(message["id"]))
            message["id"] = str(message_id)
            self._messages[message_id] = message
        for key in ("content", "embeds", "components"):
            if key in body:
                message[key] = (
                    body[key] if body[key] is not None else ([] if key != "content" else "")
                )
        if "flags" in body and body["flags"] is not None:
            message["flags"] = int(body["flags"])
        if "attachments" in body or files:
            message["attachments"] = _attachments(files, body, message["channel_id"])
        message["flags"] = message.get("flags", 0) & ~128  # an edit ends "thinking…"
        message["edited_timestamp"] = _now_iso()
        return message


def _attachments(
    files: list[dict[str, Any]], body: Mapping[str, Any], channel_id: Any
) -> list[dict[str, Any]]:
    described = {str(a.get("id")): a for a in body.get("attachments") or []}
    result = []
    for index, f in enumerate(files):
        meta = described.get(str(index), {})
        ident = snowflake()
        url = f"https://cdn.discordapp.com/attachments/{channel_id}/{ident}/{f['filename']}"
        result.append(
            {
                "id": str(ident),
                "filename": f["filename"] or f"file{index}",
                "size": len(f["data"]),
                "url": url,
                "proxy_url": url,
                "content_type": f["content_type"],
                "description": meta.get("description"),
            }
        )
    return result
