"""New connections to one server are limited to 100 a second (a start with thousands of
accounts on one provider), while another server is not held back by them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from mail import connect_rate, net


def _connect_many(port: int, count: int, stamps: list[float], lock: threading.Lock) -> None:
    def one(_: int) -> None:
        sock = net.connect_checked(["127.0.0.1"], port, timeout=10)
        with lock:
            stamps.append(time.monotonic())
        sock.close()

    with ThreadPoolExecutor(40) as pool:
        list(pool.map(one, range(count)))


def _busiest_second(stamps: list[float]) -> int:
    stamps = sorted(stamps)
    end, most = 0, 0
    for start, t in enumerate(stamps):
        while end < len(stamps) and stamps[end] - t < 1.0:
            end += 1
        most = max(most, end - start)
    return most


def test_no_more_than_100_new_connections_a_second_to_one_server(dovecot):
    """250 connections to one server from 40 threads at once: no second holds more than
    the promised 100 (paced at 90; a little margin for the clock read after connect),
    and they take at least 249 turns of the pace (2.77 s);
    200 more to a second server meanwhile leave at that server's own pace."""
    lock = threading.Lock()
    imap, pop3 = [], []
    start = time.monotonic()
    other = threading.Thread(target=_connect_many, args=(dovecot.pop3_port, 200, pop3, lock))
    other.start()
    _connect_many(dovecot.imap_port, 250, imap, lock)
    other.join()
    # The promise, 100, with 5 for the clock read after connect. The pace (90) leaves the
    # rest for bunching: 80 threads wait for the GIL after their turns, and a CI machine
    # running PostgreSQL beside this once put 101 stamps into one second at 90 a second.
    assert connect_rate.PER_SECOND <= 100
    assert _busiest_second(imap) <= 100 + 5
    assert _busiest_second(pop3) <= 100 + 5
    # 250 evenly spaced: the last starts 249 turns after the first (2.77 s at 90/s)
    assert max(imap) - start >= 249 / connect_rate.PER_SECOND - 0.05
    # Concurrent with the first server, not queued behind it (one queue: 5 s for both).
    assert max(pop3) - start < 4.0
