"""The bench.pop3 baselines, fetchmail and getmail6: write each tool's fresh config, run it
as a timed child process, and count and verify what it stored."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._pop3_common import BenchError, Run, Target, ids_in, verify

INSTALL = {
    "fetchmail": "apt-get install fetchmail",
    "getmail6": ".venv/bin/pip install getmail6   (or: apt-get install getmail6)",
}
GETMAIL_ROOT_USER = "nobody"  # Maildir `user` when the bench runs as root


def _timed_child(argv: list[str], work: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """Run argv to completion: (wall s, child user+system CPU s, exit code)."""
    with (work / "stdout.log").open("wb") as out, (work / "stderr.log").open("wb") as err:
        wall0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - wall0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def _child_failed(tool: str, code: int, work: Path) -> BenchError:
    logs = "\n".join(
        f"--- {name} ---\n{(work / name).read_text(errors='replace')[-3000:]}"
        for name in ("stdout.log", "stderr.log")
    )
    return BenchError(f"{tool} exited with status {code}\n{logs}")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def fetchmail_config(target: Target) -> str:
    security = (
        "--ssl --sslcertck --sslcertfile <the rig's test CA>"
        if target.tls
        else "--sslproto '' (plain, no STLS)"
    )
    return f"-p POP3 --keep --fetchall {security} --bsmtp FILE --nosyslog, no daemon"


def run_fetchmail(target: Target, work: Path, expected: set[str]) -> Run:
    binary = shutil.which("fetchmail")
    assert binary is not None
    home = work / "fetchmail-home"
    home.mkdir()
    rcfile = home / "fetchmailrc"
    _write_private(
        rcfile,
        # The rig's certificate names localhost (DNS) and 127.0.0.1 (IP SAN); fetchmail checks
        # the name it polls against DNS names only, so it polls `localhost` (loopback too).
        f"poll localhost protocol POP3 port {target.port}\n"
        f'  user "{target.user.name}" password "{target.user.password}"\n',
    )
    bsmtp = work / "fetchmail.bsmtp"
    argv = [binary, "-f", str(rcfile), "--idfile", str(home / "fetchids")]
    argv += ["--pidfile", str(home / "fetchmail.pid"), "--nosyslog", "--daemon", "0"]
    argv += ["-p", "POP3", "--keep", "--fetchall", "--bsmtp", str(bsmtp)]
    if target.tls:
        argv += ["--ssl", "--sslcertck", "--sslcertfile", target.dovecot.ca_file]
    else:
        argv += ["--sslproto", ""]
    env = {**os.environ, "FETCHMAILHOME": str(home), "HOME": str(home), "LC_ALL": "C"}
    wall, cpu, code = _timed_child(argv, work, env)
    if code != 0:  # 0: mail retrieved; 1: none; anything else an error
        raise _child_failed("fetchmail", code, work)
    data = bsmtp.read_bytes()
    envelopes = len(re.findall(rb"^MAIL FROM:", data, re.MULTILINE))
    got = verify("fetchmail", ids_in(data), expected)
    if envelopes != got:
        raise BenchError(f"fetchmail wrote {envelopes} BSMTP envelopes for {got} messages")
    return Run("fetchmail", wall, cpu, got)


def getmail_binary() -> str | None:
    beside = Path(sys.executable).with_name("getmail")
    return str(beside) if beside.exists() else shutil.which("getmail")


def getmail_config(target: Target) -> str:
    retriever = "SimplePOP3SSLRetriever, ca_certs = CA" if target.tls else "SimplePOP3Retriever"
    user = f" (user = {GETMAIL_ROOT_USER}, as root)" if os.geteuid() == 0 else ""
    return (
        f"{retriever}; Maildir destination{user}; delete = false, read_all = true, "
        "verbose = 0; fresh --getmaildir"
    )


def run_getmail(target: Target, work: Path, expected: set[str]) -> Run:
    binary = getmail_binary()
    assert binary is not None
    state = work / "getmail-state"
    state.mkdir()
    maildir = work / "mail" / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True)
    retriever = "SimplePOP3SSLRetriever" if target.tls else "SimplePOP3Retriever"
    ca = f"ca_certs = {target.dovecot.ca_file}\n" if target.tls else ""
    deliver_as = ""
    if os.geteuid() == 0:  # getmail refuses to deliver as root; its documented way out
        deliver_as = f"user = {GETMAIL_ROOT_USER}\n"
        nobody = pwd.getpwnam(GETMAIL_ROOT_USER)
        work.chmod(0o711)
        for path in (maildir.parent, maildir, *(maildir / s for s in ("cur", "new", "tmp"))):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
    rcfile = state / "getmailrc"
    _write_private(
        rcfile,
        f"[retriever]\ntype = {retriever}\nserver = {target.dovecot.host}\n"
        f"port = {target.port}\nusername = {target.user.name}\n"
        f"password = {target.user.password}\n{ca}"
        f"[destination]\ntype = Maildir\npath = {maildir}/\n{deliver_as}"
        "[options]\ndelete = false\nread_all = true\nverbose = 0\n",
    )
    argv = [binary, "--getmaildir", str(state), "--rcfile", str(rcfile)]
    wall, cpu, code = _timed_child(argv, work, {**os.environ, "HOME": str(state)})
    if code != 0:
        raise _child_failed("getmail6", code, work)
    found: list[str] = []
    for sub in ("new", "cur"):
        for path in (maildir / sub).iterdir():
            head = path.read_bytes().split(b"\n\n", 1)[0]
            found.extend(ids_in(head))
    got = verify("getmail6", found, expected)
    return Run("getmail6", wall, cpu, got)


def baseline_version(tool: str) -> str:
    """fetchmail's or getmail6's own version line."""
    if tool == "fetchmail":
        argv = [shutil.which("fetchmail") or "fetchmail", "--version"]
    else:
        argv = [getmail_binary() or "getmail", "--version"]
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home, "FETCHMAILHOME": home, "LC_ALL": "C"}
        out = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    for line in (out.stdout + out.stderr).splitlines():
        if "release" in line or line.startswith("getmail"):
            return line.replace("This is fetchmail release ", "fetchmail ").strip(" .")
    return "unknown version"
