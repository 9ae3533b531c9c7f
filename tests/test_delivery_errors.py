"""A delivery that raises: an outage (a unit, the network, the database) is retried quietly; a bug is
retried too, but said as a bug, with its traceback, so that it does not pass for an outage."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from structlog.testing import capture_logs

from platform_hub.exchange import delivery
from platform_hub.linkage import deliveries
from platform_hub.protocol.errors import DeliveryFailed


@pytest.fixture
def retried(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int, str]]:
    calls: list[tuple[int, int, str]] = []

    async def retry_later(state: Any, delivery_id: int, attempt: int, error: str) -> None:
        calls.append((delivery_id, attempt, error))

    monkeypatch.setattr(deliveries, "retry_later", retry_later)
    return calls


def failing_with(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    async def prepare_delivery(state: Any, leased: Any) -> Any:
        raise error

    monkeypatch.setattr(deliveries, "prepare_delivery", prepare_delivery)


async def test_a_bug_in_a_delivery_is_logged_with_its_traceback(
    monkeypatch: pytest.MonkeyPatch, retried: list[tuple[int, int, str]]
) -> None:
    failing_with(monkeypatch, ZeroDivisionError("division by zero"))
    with capture_logs() as logs:
        await delivery.deliver(SimpleNamespace(), SimpleNamespace(id=7), 2)
    assert retried == [(7, 2, "ZeroDivisionError: division by zero")]
    (said,) = [entry for entry in logs if entry["log_level"] == "error"]
    assert said["exc_info"] is True, said
    assert said["delivery"] == 7


async def test_an_outage_is_retried_without_an_error_logged(
    monkeypatch: pytest.MonkeyPatch, retried: list[tuple[int, int, str]]
) -> None:
    failing_with(monkeypatch, DeliveryFailed("unit 011 did not answer"))
    with capture_logs() as logs:
        await delivery.deliver(SimpleNamespace(), SimpleNamespace(id=8), 1)
    assert retried == [(8, 1, "unit 011 did not answer")]
    assert not [entry for entry in logs if entry["log_level"] == "error"]
