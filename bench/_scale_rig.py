"""The host and Dovecot set up for ten thousand IMAP sessions on one machine.

- Dovecot: `imap-hibernate` takes each connection 5 s into IDLE off its own `imap`
  process (one process holds them all, so 10,000 sessions do not cost 10,000 processes,
  about 0.8 MiB each); process and client limits of every service on the way (imap-login,
  which holds each TLS connection, imap, auth, anvil, stats) raised above the sessions.
- the host: inotify instances above the sessions (Dovecot needs one per IDLE mailbox and
  falls back to 30-second checks past the limit), and open files for Dovecot's master,
  which checks its limit against the services' client limits.
- measured from Dovecot's log: new logins a second, for the start-up rate limit.
"""

from __future__ import annotations

import collections
import contextlib
import re
import resource
from collections.abc import Iterator
from pathlib import Path

from tests.plugins.dovecot import Dovecot

HIBERNATE = """
imap_hibernate_timeout = 5s
service imap {{
  unix_listener imap-master {{
    user = $default_internal_user
  }}
  extra_groups = $default_internal_group
}}
service imap-hibernate {{
  unix_listener imap-hibernate {{
    mode = 0660
    group = $default_internal_group
  }}
  client_limit = {per_process}
  process_limit = {processes}
}}
"""
# Each hibernated session holds its socket and an inotify descriptor in imap-hibernate,
# so one process for 10,000 would pass a 20,000 open-file hard limit: spread them.
HIBERNATED_PER_PROCESS = 1000
_LOGIN = re.compile(r"^(\w{3} +\d+ \d\d:\d\d:\d\d) imap-login: Info: Login: ", re.MULTILINE)


def scale_config(text: str, sessions: int) -> str:
    """The test rig's configuration with limits above `sessions` and hibernation."""
    # Clients under the 20,000 open-file hard limit of this host's Dovecot master.
    processes, clients = sessions + 1000, min(2 * sessions + 5000, 19000)
    # imap-login holds each TLS client and its pipe to imap, imap-hibernate each session's
    # socket and notify descriptors: many processes of 1,000 each stay far below any
    # process's open-file limit (one process of 4,000 reset connections near 5,000).
    login_processes = sessions // 1000 + 8
    text = text.replace("default_process_limit = 2100", f"default_process_limit = {processes}")
    text = text.replace("default_client_limit = 10000", f"default_client_limit = {clients}")
    text = text.replace("process_limit = 2100", f"process_limit = {processes}")
    text = text.replace("client_limit = 10000", f"client_limit = {clients}")
    text = text.replace("client_limit = 2000", "client_limit = 1000")
    text = text.replace("process_limit = 8", f"process_limit = {login_processes}")
    text = text.replace("process_min_avail = 2", "process_min_avail = 8")
    text = text.replace(
        "mail_max_userip_connections = 2000", f"mail_max_userip_connections = {sessions}"
    )
    hibernators = sessions // HIBERNATED_PER_PROCESS + 4
    return text + HIBERNATE.format(per_process=HIBERNATED_PER_PROCESS, processes=hibernators)


def raise_host_limits(sessions: int) -> list[str]:
    """inotify instances and this process's open files (Dovecot and the bot inherit the
    hard limit). Root only; says what it could not do."""
    notes = []
    inotify = Path("/proc/sys/fs/inotify/max_user_instances")
    want = max(8192, 2 * sessions + 1024)
    try:
        if int(inotify.read_text()) < want:
            inotify.write_text(str(want))
        notes.append(f"fs.inotify.max_user_instances = {inotify.read_text().strip()}")
    except (OSError, ValueError) as exc:
        notes.append(f"fs.inotify.max_user_instances unchanged ({exc})")
    files = 8 * sessions + 65536
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        if hard < files:
            resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
        else:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, files), hard))
    except (OSError, ValueError) as exc:
        notes.append(f"RLIMIT_NOFILE unchanged ({exc})")
    notes.append(f"RLIMIT_NOFILE = {resource.getrlimit(resource.RLIMIT_NOFILE)}")
    return notes


@contextlib.contextmanager
def scale_dovecot(sessions: int) -> Iterator[Dovecot]:
    server = Dovecot()
    server.config_path.write_text(scale_config(server.config_path.read_text(), sessions))
    server.start()
    try:
        yield server
    finally:
        server.cleanup()


def logins_per_second(log_path: Path, offset: int) -> tuple[int, int]:
    """(the most IMAP logins Dovecot logged in one second, all of them) from `offset`."""
    with log_path.open("rb") as f:
        f.seek(offset)
        text = f.read().decode("utf-8", "replace")
    seconds = collections.Counter(_LOGIN.findall(text))
    return max(seconds.values(), default=0), sum(seconds.values())


def log_complaints(lines: list[str], top: int = 5) -> list[tuple[int, str]]:
    """The bot's most frequent WARNING/ERROR lines and lost IDLE connections (the latter
    logged at INFO: BENCH_LOG_LEVEL=INFO), numbers and the time stamp masked so alike lines
    count together, most frequent first."""
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        if " WARNING " in line or " ERROR " in line or "IDLE of account" in line:
            message = line.split(" ", 2)[-1]  # without the date and time
            counts[re.sub(r"\d+", "N", message)[:160]] += 1
    return [(count, message) for message, count in counts.most_common(top)]
