"""The Sent copy of a message sent over SMTP: APPEND to the folder marked \\Sent
(SPECIAL-USE, RFC 6154), else one named Sent, flagged \\Seen."""

from __future__ import annotations

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from i18n import N_
from mail.errors import FolderError, MailError


class SentCopyError(MailError):
    kind = "sent-copy"
    keeps_session = True


def sent_folder(client: IMAPClient) -> str:
    folders = [
        (tuple(f.lower() for f in flags), folder)
        for flags, _delim, folder in client.list_folders()
        if not any(f.lower() in (b"\\noselect", b"\\nonexistent") for f in flags)
    ]
    for flags, folder in folders:
        if b"\\sent" in flags:
            return folder
    names = [folder for _flags, folder in folders]
    for folder in [n for n in names if n == "Sent"] + [n for n in names if n.lower() == "sent"]:
        return folder
    raise FolderError(
        N_("This mailbox has no Sent folder (none marked `\\Sent`, none named Sent).")
    )


def append(client: IMAPClient, message: bytes) -> str:
    """APPEND `message` to the Sent folder; returns the folder's name."""
    folder = sent_folder(client)
    try:
        client.append(folder, message, flags=[b"\\Seen"])
    except IMAPClientError as exc:
        raise SentCopyError(
            N_("The server refused the copy in `{folder}`: {exc}"), folder=folder, exc=exc
        ) from exc
    return folder
