"""Prometheus metrics, on a registry of the app's own (so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import Message, Send


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
        self.dead_letters = Gauge(
            "platform_hub_dead_letters",
            "Dead letters: notifications out of attempts (or too old) that nobody retried yet",
            registry=self.registry,
        )
        self.oldest_pending = Gauge(
            "platform_hub_deliveries_oldest_pending_seconds",
            "Age of the oldest notification waiting for delivery, by subscriber",
            ["subscriber"],
            registry=self.registry,
        )
        self.heartbeat_age = Gauge(
            "platform_hub_unit_heartbeat_age_seconds",
            "Time since each enabled unit's last heartbeat (units that never sent one are left out)",
            ["unit"],
            registry=self.registry,
        )
        self.heartbeat_never = Gauge(
            "platform_hub_unit_heartbeat_never",
            "1 for an enabled unit that has never sent a heartbeat",
            ["unit"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "platform_hub_refusals",
            "Linkage messages refused (SOAP and REST), by the hub's error code",
            ["code"],
            registry=self.registry,
        )
        self.responses = Counter(
            "platform_hub_http_responses",
            "HTTP responses, by status class (2xx, 3xx, 4xx, 5xx)",
            ["status_class"],
            registry=self.registry,
        )
        self.verification_at = Gauge(
            "platform_hub_verification_last_run_timestamp_seconds",
            "When the records were last verified to the end (the newest finished verification run)",
            registry=self.registry,
        )
        self.verification_ok = Gauge(
            "platform_hub_verification_ok",
            "1 if the newest finished verification found both records intact, 0 if not (NaN: none yet)",
            registry=self.registry,
        )
        self.verification_ok.set(float("nan"))
        self.operations_refused = Gauge(
            "platform_hub_operations_refused_recent",
            "Operations record entries refused or failed in the last 15 minutes, by action",
            ["action"],
            registry=self.registry,
        )

    def counting(self, send: Send) -> Send:
        """``send``, counting the response's status class."""

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.responses.labels(f"{int(message['status']) // 100}xx").inc()
            await send(message)

        return counted
