"""Counters of the watching engine and the sender, exported by the web endpoint's /metrics
in Prometheus text format. One registry per bot (not the library's global one), so two
bots in one process (tests) never share counts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.polls = Counter(
            "mailsync_polls",
            "Polls run (full polls; quiet STATUS sweeps are not counted)",
            ["protocol"],
            registry=self.registry,
        )
        self.poll_errors = Counter(
            "mailsync_poll_errors",
            "Polls that failed, by kind of failure",
            ["kind"],
            registry=self.registry,
        )
        self.poll_seconds = Histogram(
            "mailsync_poll_duration_seconds",
            "Wall time of a full poll",
            ["protocol"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
            registry=self.registry,
        )
        self.sweep_seconds = Histogram(
            "mailsync_sweep_duration_seconds",
            "Wall time of one multiplexed STATUS round over the due parked IMAP sessions",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.swept = Counter(
            "mailsync_swept_accounts",
            "Accounts asked for STATUS by the sweep rounds",
            registry=self.registry,
        )
        self.alerts_queued = Counter(
            "mailsync_alerts_queued",
            "Alerts written to the outbox (new mail, digests, notices)",
            registry=self.registry,
        )
        self.alerts_sent = Counter(
            "mailsync_alerts_sent",
            "Alerts Discord accepted",
            registry=self.registry,
        )
        self.outbox_backlog = Gauge(
            "mailsync_outbox_backlog",
            "Alerts waiting in the outbox (counted when scraped)",
            registry=self.registry,
        )
        self.idle_connections = Gauge(
            "mailsync_idle_connections",
            "IMAP connections idling (pushed accounts)",
            registry=self.registry,
        )
        self.shard_latency = Gauge(
            "mailsync_shard_latency_seconds",
            "Discord gateway heartbeat latency per shard",
            ["shard"],
            registry=self.registry,
        )
