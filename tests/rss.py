"""The test process's resident memory, read from /proc/self/status as `ps` would: the bot
runs in this process (the harness), so its growth while a server misbehaves is measured
here, outside the code that reads from the server."""

from __future__ import annotations

import contextlib
import re
import threading
from pathlib import Path

MiB = 1024 * 1024
_STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> int:
    found = re.search(rf"^{field}:\s+(\d+) kB$", _STATUS.read_text(), re.MULTILINE)
    assert found, field
    return int(found.group(1))


class PeakRss:
    """Growth of VmRSS above its value at start: the kernel's high-water mark (VmHWM,
    reset at start through /proc/self/clear_refs) and a sampler every 20 ms, whichever
    saw more. Use as a context manager; `growth` is in bytes."""

    def __init__(self) -> None:
        self.baseline = 0
        self.peak = 0
        self._hwm_reset = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def __enter__(self) -> PeakRss:
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS (Linux 4.0+)
            self._hwm_reset = True
        self.baseline = self.peak = _status_kib("VmRSS") * 1024
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._note()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self._note()

    def _note(self) -> None:
        rss = _status_kib("VmRSS") * 1024
        if self._hwm_reset:
            rss = max(rss, _status_kib("VmHWM") * 1024)
        self.peak = max(self.peak, rss)

    @property
    def growth(self) -> int:
        self._note()
        return self.peak - self.baseline
