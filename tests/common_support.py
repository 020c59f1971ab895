"""Helpers every test area shares: waiting for a condition, UTC instants, draining a queue."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dramatiq.brokers.rabbitmq import RabbitmqBroker


def wait_until(
    check: Callable[[], bool], timeout: float = 20.0, what: str = "the condition"
) -> float:
    """Seconds it took for ``check`` to hold; AssertionError naming ``what`` after ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.05)
    return time.monotonic() - start


def utc(text: str) -> datetime:
    """The naive ISO time ``text`` read as UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def drain(broker: RabbitmqBroker, queue: str) -> list[dict[str, Any]]:
    """Take every message out of ``queue`` (nothing consumes it in these tests)."""
    channel = broker.channel
    bodies: list[dict[str, Any]] = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(json.loads(body))
