"""Tests of the Dovecot test rig itself (tests/plugins/dovecot.py).

If one of these fails, the mail tests built on the rig cannot be trusted.
"""

from __future__ import annotations

import os
import poplib
import re
import ssl
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import imapclient
import pytest
from imapclient.exceptions import LoginError

from tests.plugins import dovecot as rig
from tests.plugins.dovecot import Dovecot, MailUser, make_message

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def verifying_context(dovecot: Dovecot) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=dovecot.ca_file)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    return context


def test_imaps_login_with_verifying_context(dovecot: Dovecot, mail_user: MailUser) -> None:
    """IMAPS on 127.0.0.1 verifies against ca_file (hostname checked) and accepts the login."""
    client = imapclient.IMAPClient(
        dovecot.host, port=dovecot.imaps_port, ssl=True, ssl_context=verifying_context(dovecot)
    )
    try:
        client.login(mail_user.name, mail_user.password)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
    finally:
        client.logout()


def test_imaps_rejected_without_test_ca(dovecot: Dovecot, monkeypatch) -> None:
    """The certificate is not trusted by default, so verification is really exercised."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(ssl.SSLCertVerificationError):
        imapclient.IMAPClient(
            dovecot.host,
            port=dovecot.imaps_port,
            ssl=True,
            ssl_context=ssl.create_default_context(),
            timeout=5,
        )


def test_certificate_matches_localhost_name(dovecot: Dovecot, mail_user: MailUser) -> None:
    """The certificate's subjectAltName also covers DNS:localhost."""
    with imapclient.IMAPClient(
        "localhost", port=dovecot.imaps_port, ssl=True, ssl_context=verifying_context(dovecot)
    ) as client:
        client.login(mail_user.name, mail_user.password)


def test_starttls_on_plain_imap_port(dovecot: Dovecot, mail_user: MailUser) -> None:
    """Plain IMAP offers STARTTLS; after STARTTLS + login the server offers IDLE."""
    client = imapclient.IMAPClient(dovecot.host, port=dovecot.imap_port, ssl=False)
    try:
        assert b"STARTTLS" in client.capabilities()
        client.starttls(verifying_context(dovecot))
        client.login(mail_user.name, mail_user.password)
        capabilities = client.capabilities()
        assert b"IDLE" in capabilities
        assert b"STARTTLS" not in capabilities
        assert isinstance(client._imap.sock, ssl.SSLSocket)
    finally:
        client.logout()


def test_plain_imap_login_without_tls(dovecot: Dovecot, mail_user: MailUser) -> None:
    """Plaintext login on the loopback plain port is allowed (no LOGINDISABLED)."""
    with dovecot.imap(mail_user) as client:
        assert b"LOGINDISABLED" not in client.capabilities()
        assert b"QUOTA" in client.capabilities()
        assert not isinstance(client._imap.sock, ssl.SSLSocket)


def test_pop3s_login_and_uidl(dovecot: Dovecot, mail_user: MailUser) -> None:
    """POP3S verifies against ca_file, logs in, and UIDL gives stable %08Xu%08Xv ids."""
    uid = dovecot.append(mail_user, make_message(subject="for pop"))
    pop = poplib.POP3_SSL(dovecot.host, dovecot.pop3s_port, context=verifying_context(dovecot))
    try:
        pop.user(mail_user.name)
        pop.pass_(mail_user.password)
        count, _size = pop.stat()
        assert count == 1
        _resp, listing, _octets = pop.uidl()
        assert len(listing) == 1
        number, uidl = listing[0].split()
        assert number == b"1"
        # %08Xu%08Xv: the IMAP UID then the UIDVALIDITY, 8 hex digits each.
        assert re.fullmatch(rb"[0-9A-Fa-f]{16}", uidl)
        assert int(uidl[:8], 16) == uid
    finally:
        pop.quit()


def test_pop3_stls_on_plain_port(dovecot: Dovecot, mail_user: MailUser) -> None:
    """Plain POP3 offers STLS; after stls() with a verifying context the login works."""
    pop = poplib.POP3(dovecot.host, dovecot.pop3_port)
    try:
        assert "STLS" in pop.capa()
        pop.stls(context=verifying_context(dovecot))
        assert isinstance(pop.sock, ssl.SSLSocket)
        pop.user(mail_user.name)
        pop.pass_(mail_user.password)
        assert pop.stat() == (0, 0)
    finally:
        pop.quit()


def test_default_quota_is_one_mib(dovecot: Dovecot, mail_user: MailUser) -> None:
    """GETQUOTAROOT INBOX reports a STORAGE limit of 1024 KiB for a default user."""
    with dovecot.imap(mail_user) as client:
        _roots, quotas = client.get_quota_root("INBOX")
    storage = [q for q in quotas if q.resource == "STORAGE"]
    assert len(storage) == 1
    assert storage[0].limit == 1024
    assert storage[0].usage == 0


@pytest.mark.parametrize("quota_kib", [2048, 300])
def test_per_user_quota(dovecot: Dovecot, quota_kib: int) -> None:
    """add_user(quota_kib=N) gives a STORAGE limit of exactly N KiB, usage grows on append."""
    user = dovecot.add_user(quota_kib=quota_kib)
    dovecot.append(user, make_message(size=20_000))
    with dovecot.imap(user) as client:
        _roots, quotas = client.get_quota_root("INBOX")
    (storage,) = [q for q in quotas if q.resource == "STORAGE"]
    assert storage.limit == quota_kib
    assert 19 <= storage.usage <= 21


def test_quota_is_enforced(dovecot: Dovecot) -> None:
    """An APPEND beyond the quota is refused by the server."""
    user = dovecot.add_user(quota_kib=100)
    dovecot.append(user, make_message(size=60_000))
    with pytest.raises(imapclient.exceptions.IMAPClientError, match=r"(?i)quota"):
        dovecot.append(user, make_message(size=60_000))


def test_appended_message_visible_with_returned_uid(dovecot: Dovecot, mail_user: MailUser) -> None:
    """append() returns the APPENDUID; the message is in the folder under that UID."""
    first = dovecot.append(mail_user, make_message(subject="first"))
    second = dovecot.append(mail_user, make_message(subject="second"), flags=[rb"\Seen"])
    assert second > first
    with dovecot.imap(mail_user) as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search("ALL") == [first, second]
        data = client.fetch([first, second], ["ENVELOPE", "FLAGS"])
    assert data[first][b"ENVELOPE"].subject == b"first"
    assert data[second][b"ENVELOPE"].subject == b"second"
    assert rb"\Seen" in data[second][b"FLAGS"]
    assert rb"\Seen" not in data[first][b"FLAGS"]


def test_append_to_other_folder(dovecot: Dovecot, mail_user: MailUser) -> None:
    """append(folder=...) stores into that folder, not INBOX."""
    uid = dovecot.append(mail_user, make_message(subject="sent one"), folder="Sent")
    with dovecot.imap(mail_user) as client:
        assert client.folder_status("INBOX", [b"MESSAGES"])[b"MESSAGES"] == 0
        client.select_folder("Sent", readonly=True)
        assert client.search("ALL") == [uid]


def test_wrong_password_raises_login_error_fast(dovecot: Dovecot, mail_user: MailUser) -> None:
    """A wrong password raises LoginError quickly, and does not slow down the next login."""
    started = time.monotonic()
    with pytest.raises(LoginError):
        dovecot.imap(MailUser(mail_user.name, mail_user.password + "x"))
    with pytest.raises(LoginError):
        dovecot.imap(MailUser("no-such-user", "whatever"))
    assert time.monotonic() - started < 1.9, "auth failure delay / penalty is active"
    started = time.monotonic()
    with dovecot.imap(mail_user):
        pass
    assert time.monotonic() - started < 1.0, "logins after a failure are penalised"


def test_new_users_usable_immediately(dovecot: Dovecot) -> None:
    """Users added in quick succession can log in at once (no reload, no 1 s stat cache)."""
    for _ in range(5):
        user = dovecot.add_user()
        with dovecot.imap(user) as client:
            assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_add_user_with_explicit_name_and_password(dovecot: Dovecot) -> None:
    """add_user(name, password) uses them verbatim and refuses duplicates."""
    user = dovecot.add_user("alice@example.test", "s3cret pass")
    assert user == MailUser("alice@example.test", "s3cret pass")
    with dovecot.imap(user):
        pass
    with pytest.raises(ValueError):
        dovecot.add_user("alice@example.test")


def test_set_password(dovecot: Dovecot, mail_user: MailUser) -> None:
    """set_password() switches the password: the old one fails, the new one works."""
    old = mail_user.password
    with dovecot.imap(mail_user):
        pass
    dovecot.set_password(mail_user, "brand-new")
    assert mail_user.password == "brand-new"
    with dovecot.imap(mail_user):
        pass
    with pytest.raises(LoginError):
        dovecot.imap(MailUser(mail_user.name, old))


def test_special_use_folders_exist(dovecot: Dovecot, mail_user: MailUser) -> None:
    """INBOX plus subscribed Sent, Drafts, Trash, Junk, Archives with their special-use flags
    exist."""
    with dovecot.imap(mail_user) as client:
        folders = {name: flags for flags, _delim, name in client.list_folders()}
        subscribed = {name for _flags, _delim, name in client.list_sub_folders()}
        assert client.find_special_folder(rb"\Sent") == "Sent"
    assert set(folders) == {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archives"}
    uses = [("Sent", rb"\Sent"), ("Drafts", rb"\Drafts"), ("Trash", rb"\Trash")]
    for name, use in [*uses, ("Archives", rb"\Archive")]:
        assert use in folders[name]
        assert name in subscribed
    assert rb"\Junk" in folders["Junk"]


def test_create_and_delete_folder(dovecot: Dovecot, mail_user: MailUser) -> None:
    """create_folder/delete_folder work, with '/' as the hierarchy separator."""
    dovecot.create_folder(mail_user, "Projects")
    dovecot.create_folder(mail_user, "Projects/Alerts")
    dovecot.append(mail_user, make_message(), folder="Projects/Alerts")
    with dovecot.imap(mail_user) as client:
        listed = {name: delim for _flags, delim, name in client.list_folders()}
    assert listed["Projects/Alerts"] == b"/"
    dovecot.delete_folder(mail_user, "Projects/Alerts")
    with dovecot.imap(mail_user) as client:
        assert not client.folder_exists("Projects/Alerts")
        assert client.folder_exists("Projects")


def test_restart_keeps_mail_and_ports(dovecot: Dovecot, mail_user: MailUser) -> None:
    """restart() comes back on the same ports with the same users and mail."""
    uid = dovecot.append(mail_user, make_message(subject="survives restart"))
    ports = (dovecot.imap_port, dovecot.imaps_port, dovecot.pop3_port, dovecot.pop3s_port)
    dovecot.restart()
    assert ports == (dovecot.imap_port, dovecot.imaps_port, dovecot.pop3_port, dovecot.pop3s_port)
    with dovecot.imap(mail_user) as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search("ALL") == [uid]
        envelope = client.fetch([uid], ["ENVELOPE"])[uid][b"ENVELOPE"]
    assert envelope.subject == b"survives restart"


def test_stop_refuses_connections_then_start(dovecot: Dovecot, mail_user: MailUser) -> None:
    """After stop() nothing listens on the ports; start() serves again."""
    dovecot.stop()
    try:
        with pytest.raises(ConnectionRefusedError):
            imapclient.IMAPClient(dovecot.host, port=dovecot.imap_port, timeout=5)
    finally:
        dovecot.start()
    with dovecot.imap(mail_user):
        pass


def test_separate_instance_cleans_up_processes_and_dir() -> None:
    """A second instance runs alongside; cleanup() stops every process and removes the dir."""
    server = Dovecot()
    try:
        server.start()
        master = server._process
        assert master is not None
        children = rig._descendants(master.pid)
        assert children, "dovecot should have started service processes"
        user = server.add_user()
        with server.imap(user) as client:
            # No introspection URL (as bench/_rig.py builds it): passwords only.
            assert b"AUTH=XOAUTH2" not in client.capabilities()
        assert "oauth2" not in server.config_path.read_text()
        assert server.introspection_url is None
    finally:
        server.cleanup()
    assert master.poll() is not None
    assert not [pid for pid, started in children.items() if rig._alive(pid, started)]
    assert not server.root.exists()


def test_log_tail(dovecot: Dovecot, mail_user: MailUser) -> None:
    """log_tail() returns recent Dovecot log lines (here: the login just made)."""
    with dovecot.imap(mail_user):
        pass
    deadline = time.monotonic() + 5
    while f"user=<{mail_user.name}>" not in dovecot.log_tail(200):
        assert time.monotonic() < deadline, dovecot.log_tail(20)
        time.sleep(0.05)
    assert len(dovecot.log_tail(3).splitlines()) <= 3


def test_dovecot_ssl_env(dovecot_ssl_env: str, dovecot: Dovecot, mail_user: MailUser) -> None:
    """With dovecot_ssl_env, a plain ssl.create_default_context() trusts the test server."""
    assert os.environ["SSL_CERT_FILE"] == dovecot_ssl_env == dovecot.ca_file
    with imapclient.IMAPClient(
        dovecot.host, port=dovecot.imaps_port, ssl=True, ssl_context=ssl.create_default_context()
    ) as client:
        client.login(mail_user.name, mail_user.password)


def test_make_message_format() -> None:
    """make_message gives CRLF-only RFC 5322 bytes with the given headers."""
    raw = make_message(
        subject="Hello",
        sender="x@example.com",
        to="y@example.com",
        body="line one\nline two\n",
        message_id="<abc@example.com>",
    )
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    headers, _, body = raw.partition(b"\r\n\r\n")
    assert b"Subject: Hello" in headers
    assert b"From: x@example.com" in headers
    assert b"To: y@example.com" in headers
    assert b"Message-ID: <abc@example.com>" in headers
    assert b"Date: " in headers
    assert body == b"line one\r\nline two\r\n"


@pytest.mark.parametrize("size", [2_000, 50_000, 300_001])
def test_make_message_size(size: int) -> None:
    """make_message(size=N) pads the message to N bytes."""
    assert abs(len(make_message(size=size)) - size) <= 2


def test_missing_dovecot_binary_fails_with_install_hint(tmp_path: Path) -> None:
    """Without a dovecot binary the fixture errors (never skips) and says what to install."""
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.plugins.dovecot"]\n')
    (tmp_path / "test_needs_dovecot.py").write_text(
        textwrap.dedent(
            """
            from tests.plugins import dovecot as rig

            rig._find_binary = lambda *args: None

            def test_uses_dovecot(dovecot):
                pass
            """
        )
    )
    pythonpath = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": pythonpath}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 error" in output, output
    assert "skipped" not in output, output
    assert "apt-get install dovecot-core dovecot-imapd dovecot-pop3d" in output, output


# ----------------------------------------------------------------------------- OAuth2 logins
