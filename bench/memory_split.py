"""Where an idle IMAP connection's memory goes: OpenSSL, imaplib/imapclient, the bot.

Each layer is measured in a child process of its own holding N connections to a real
Dovecot over TLS, idle, as the bot holds them; RSS from /proc (everything: C and Python),
and in a second child the same with tracemalloc (Python objects only):
  - tls: a TCP socket and an ssl.SSLSocket after the handshake, the greeting read;
  - tls-buffers: the same with SSL_MODE_RELEASE_BUFFERS cleared (CPython sets it; this
    shows what the read/write buffers would hold per idle connection without it);
  - imapclient: IMAPClient over TLS, logged in, INBOX selected, in IDLE.
RSS minus tracemalloc is C memory: OpenSSL's SSL objects (and buffers), the kernel-facing
socket object, malloc's overhead. The bot's own share is the bot's RSS growth per account
(bench.sweep, same run of this bench if --bot-kib is given) minus the imapclient layer.

    .venv/bin/python -m bench.memory_split --connections 1000 --bot-kib 32.7
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("tls", "tls-buffers", "imapclient")
SSL_CTRL_CLEAR_MODE, SSL_MODE_RELEASE_BUFFERS = 78, 0x10


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _without_release_buffers(context: ssl.SSLContext) -> None:
    """Clear SSL_MODE_RELEASE_BUFFERS on the context's SSL_CTX (not exposed by ssl)."""
    import _ssl

    lib = ctypes.CDLL(_ssl.__file__)
    lib.SSL_CTX_ctrl.restype = ctypes.c_long
    lib.SSL_CTX_ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_void_p]
    ctx = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value  # SSL_CTX*
    lib.SSL_CTX_ctrl(ctx, SSL_CTRL_CLEAR_MODE, SSL_MODE_RELEASE_BUFFERS, None)


def child(layer: str, n: int, port: int, users_file: str, traced: bool) -> None:
    from imapclient import IMAPClient

    users = json.loads(Path(users_file).read_text())[-n:]  # not the bot's (--bot)
    context = ssl.create_default_context()
    if layer == "tls-buffers":
        _without_release_buffers(context)
    held = []
    # One warm-up connection first: lazily loaded code and caches are not per connection.
    if traced:
        tracemalloc.start()
    for round_ in ("warm", "measured"):
        batch = users[:1] if round_ == "warm" else users[1:]
        if round_ == "measured":
            time.sleep(0.5)
            rss0 = rss_kib()
            py0 = tracemalloc.get_traced_memory()[0] if traced else 0
        for name, password in batch:
            if layer == "imapclient":
                client = IMAPClient("localhost", port=port, ssl=True, ssl_context=context)
                client.login(name, password)
                client.select_folder("INBOX")
                client.idle()
                held.append(client)
            else:
                sock = context.wrap_socket(
                    socket.create_connection(("127.0.0.1", port)), server_hostname="localhost"
                )
                sock.recv(4096)  # the greeting: the handshake and a first read are done
                held.append(sock)
    time.sleep(2)
    count = len(users) - 1
    rss = (rss_kib() - rss0) / count
    py = ((tracemalloc.get_traced_memory()[0] - py0) / 1024 / count) if traced else None
    print(json.dumps({"layer": layer, "rss_kib": rss, "python_kib": py}))


def run_child(layer: str, n: int, port: int, users_file: Path, traced: bool) -> dict:
    args = [sys.executable, "-m", "bench.memory_split", "--child", layer, str(n), str(port)]
    args += [str(users_file), "traced" if traced else "plain"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        layer, n, port, users_file, mode = sys.argv[2:7]
        child(layer, int(n), int(port), users_file, mode == "traced")
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--bot-kib", type=float, help="the bot's RSS per account (bench.sweep)")
    parser.add_argument(
        "--bot", type=int, default=500, help="accounts for the bot's heap by holder; 0 skips"
    )
    parser.add_argument(
        "--by-line", action="store_true", help="the bot's heap by allocating line, not file"
    )
    args = parser.parse_args()
    import tempfile

    from bench import _scale_rig

    n = args.connections
    notes = _scale_rig.raise_host_limits(n)
    with (
        _scale_rig.scale_dovecot(n + args.bot + 20) as dovecot,
        tempfile.TemporaryDirectory() as tmp,
    ):
        os.environ["SSL_CERT_FILE"] = dovecot.ca_file
        from mail import net

        net.reset_tls_context()
        users = [dovecot.add_user() for _ in range(n + 1 + args.bot + 10)]
        users_file = Path(tmp) / "users.json"
        users_file.write_text(json.dumps([[u.name, u.password] for u in users]))
        heap, top = {}, []
        if args.bot:
            from bench._bot_heap import heap_per_account

            heap, top = asyncio.run(
                heap_per_account(dovecot, users[: args.bot + 10], Path(tmp), args.by_line)
            )
        results = {}
        for layer in LAYERS if n else ():  # --connections 0: the bot's heap only
            plain = run_child(layer, n + 1, dovecot.imaps_port, users_file, traced=False)
            traced = run_child(layer, n + 1, dovecot.imaps_port, users_file, traced=True)
            results[layer] = (plain["rss_kib"], traced["python_kib"])
    load = os.getloadavg()
    print(f"{n} idle connections per layer, Dovecot over TLS on loopback; {'; '.join(notes)}")
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if results:
        print_layers(results)
    if heap:
        print_heap(heap, top, args.bot, args.by_line)
    if args.bot_kib is not None and results:
        imap_rss = results["imapclient"][0]
        print(f"  the bot's own records and threads   {args.bot_kib - imap_rss:6.1f} KiB")
        print(f"  the bot's whole figure              {args.bot_kib:6.1f} KiB")


def print_layers(results: dict[str, tuple[float, float]]) -> None:
    print(f"{'layer':<40}{'RSS KiB':>10}{'Python KiB':>12}{'C KiB':>9}")
    for layer, (rss, py) in results.items():
        print(f"{layer:<40}{rss:>10.1f}{py:>12.1f}{rss - py:>9.1f}")
    tls_rss, tls_py = results["tls"]
    imap_rss, imap_py = results["imapclient"]
    print("\nper idle account:")
    print(f"  OpenSSL and the socket (C)          {tls_rss - tls_py:6.1f} KiB")
    print(f"  ssl/socket Python objects           {tls_py:6.1f} KiB")
    print(f"  imaplib + imapclient (Python)       {imap_py - tls_py:6.1f} KiB")
    imap_c = (imap_rss - imap_py) - (tls_rss - tls_py)
    print(f"  imaplib + imapclient (C, malloc)    {imap_c:6.1f} KiB")
    buffers = results["tls-buffers"][0] - tls_rss
    print(
        f"  (OpenSSL buffers if not released:  +{buffers:6.1f} KiB; released by CPython's default)"
    )


def print_heap(heap: dict[str, float], top: list, accounts: int, by_line: bool) -> None:
    print(f"\nthe bot's Python heap per account ({accounts} accounts, tracemalloc):")
    for label, kib in sorted(heap.items(), key=lambda item: -item[1]):
        print(f"  {label:<44}{kib:6.2f} KiB")
    print(f"  {'all Python':<44}{sum(heap.values()):6.2f} KiB")
    print(f"  the {'lines' if by_line else 'files'} whose blocks grew most:")
    for filename, kib in top:
        print(f"    {kib:6.2f} KiB  {filename}")


if __name__ == "__main__":
    main()
