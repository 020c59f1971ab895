"""Fixtures of the reliability tests: the effect job on the real broker, and a worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from reliability_support import create_effects_table, effect_job

from yoked_actors.broker import use_broker


@pytest.fixture
def effect(rabbitmq_broker: RabbitmqBroker) -> Iterator[Any]:
    create_effects_table()
    with effect_job() as declared:
        use_broker(rabbitmq_broker)
        rabbitmq_broker.declare_queue(declared.queue, ensure=True)
        yield declared


@pytest.fixture
def effect_worker(effect: Any, rabbitmq_broker: RabbitmqBroker) -> Iterator[Worker]:
    worker = Worker(rabbitmq_broker, worker_threads=4, worker_timeout=50)
    worker.start()
    yield worker
    worker.stop()
