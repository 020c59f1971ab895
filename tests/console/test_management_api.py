"""Queue depths from the real RabbitMQ management API (scripts/services enables its plugin):
what `yoked queues --json` and the console's overview show an operator."""

from __future__ import annotations

import json
import subprocess

from common_support import wait_until
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from yoked_actors.jobs import get_job

MANAGEMENT_URL = "http://guest:guest@127.0.0.1:15672"


def _queues(env: dict[str, str]) -> dict:
    done = subprocess.run(
        [".venv/bin/yoked", "queues", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_yoked_queues_reads_depths_from_the_management_api(
    rabbitmq_broker: RabbitmqBroker, service_env: dict[str, str]
) -> None:
    ping = get_job("system.ping")
    for n in range(3):
        ping.send({"note": f"depth {n}"})
    with_api = {**service_env, "RABBITMQ_MANAGEMENT_URL": MANAGEMENT_URL}

    def depth() -> int | None:
        result = _queues(with_api)
        assert result["source"] == "management" and result["error"] is None
        row = next(q for q in result["queues"] if q["name"] == ping.queue)
        return row["ready"]

    # The management API refreshes its statistics every few seconds.
    wait_until(lambda: depth() == 3, 30, "the management API to count the 3 messages")
    over_amqp = next(q for q in _queues(service_env)["queues"] if q["name"] == ping.queue)
    assert over_amqp["ready"] == 3
