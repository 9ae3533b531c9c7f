"""Prometheus metrics, on a registry of the app's own (so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class HubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "platform_hub_messages",
            "Linkage messages answered, by interface and result code",
            ["interface", "result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "platform_hub_message_seconds",
            "Time to answer a linkage message",
            ["interface", "pattern"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.deliveries = Counter(
            "platform_hub_deliveries",
            "Notification delivery attempts, by subscriber and outcome",
            ["subscriber", "outcome"],
            registry=self.registry,
        )
        self.pending = Gauge(
            "platform_hub_deliveries_pending",
            "Notifications waiting for delivery",
            registry=self.registry,
        )
