"""What the rig needs from the host: binaries, free ports, a temp root, and Linux process
bookkeeping (descendants, liveness, a parent-death signal)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path


def _find_binary(name: str, *fallbacks: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in fallbacks:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (all held open together so they differ)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _make_temp_root(world_traversable: bool) -> Path:
    """mkdtemp, chmod 0755; when Dovecot drops privileges every ancestor must be traversable."""
    path = Path(tempfile.mkdtemp(prefix="dovecot-"))
    # Unix socket paths are limited to ~108 bytes; keep base_dir short.
    too_long = len(str(path)) > 60
    blocked = world_traversable and any(
        not (p.stat().st_mode & 0o001) for p in path.parents if p != Path("/")
    )
    if too_long or blocked:
        path.rmdir()
        path = Path(tempfile.mkdtemp(prefix="dovecot-", dir="/tmp"))
    path.chmod(0o755)
    return path


def _proc_stat(pid: int | str) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (index 0 is the state)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name is in parentheses and may contain spaces.
    return stat[stat.rfind(")") + 2 :].split()


def _descendants(pid: int) -> dict[int, str]:
    """All descendant processes of `pid`, as {pid: start time} (Linux /proc)."""
    if not Path("/proc").is_dir():
        return {}
    tree: dict[int, list[tuple[int, str]]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _proc_stat(entry)) is not None:
            tree.setdefault(int(fields[1]), []).append((int(entry), fields[19]))
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child, started in tree.get(todo.pop(), []):
            if child not in found:
                found[child] = started
                todo.append(child)
    return found


def _alive(pid: int, started: str) -> bool:
    """True if that very process (same pid and start time) still runs."""
    fields = _proc_stat(pid)
    return fields is not None and fields[0] != "Z" and fields[19] == started


def _set_parent_death_signal() -> None:  # pragma: no cover - runs in the child
    """Make Dovecot shut down if the test process dies without stopping it (Linux only)."""
    with contextlib.suppress(Exception):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
