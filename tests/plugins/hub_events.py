"""What an IdleHub reports, collected for tests: activity and lost connections, with a wait."""

from __future__ import annotations

import threading


class HubEvents:
    def __init__(self) -> None:
        self.activity: list = []
        self.lost: list = []
        self.changed = threading.Condition()

    def on_activity(self, key) -> None:
        with self.changed:
            self.activity.append(key)
            self.changed.notify_all()

    def on_lost(self, key, reason) -> None:
        with self.changed:
            self.lost.append((key, reason))
            self.changed.notify_all()

    def wait(self, predicate, timeout: float = 10.0) -> None:
        with self.changed:
            assert self.changed.wait_for(predicate, timeout), (self.activity, self.lost)
