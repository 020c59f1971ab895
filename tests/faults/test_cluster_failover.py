"""Node loss on a local three-node RabbitMQ cluster with quorum queues.

While a producer publishes 2,000 jobs continuously (publisher confirms, ``RABBITMQ_URL`` listing
the three nodes), the outbox relay publishes rows inserted with plain SQL, and two worker
processes consume, the node leading the job queue — the node the producer, the relay and one
worker are connected to — is killed with SIGKILL and started again later. Every accepted job's
effect must be present exactly once, the queue must end empty, and producers and workers must be
back within 10 s of the kill: the longest pause between two confirmed sends and between two
applied effects after the kill is measured and printed.
"""

from __future__ import annotations

import time
from itertools import pairwise
from pathlib import Path

import pytest
from common_support import wait_until
from fault_effects import FAULT_QUEUE, Report, applied_by, create_effects_table, effects
from fault_processes import SERVER_STOPPED, worker_process
from fault_traffic import fault_message, queue_depth, traffic
from rabbit_cluster import rabbit_cluster

from yoked_actors.broker import middleware_stack, rabbitmq_broker
from yoked_actors.settings import load_settings

pytestmark = [pytest.mark.faults, pytest.mark.timeout(420), *SERVER_STOPPED]

JOBS_SENT = 2_000
OUTBOX_ROWS = 150
BACK_WITHIN_S = 10.0


def _longest_pause_after(instants: list[float], start: float, end: float) -> float:
    """The longest time without an event from ``start`` (the kill) to the last event before
    ``end``; ``end - start`` when nothing happened at all."""
    points = [start, *sorted(t for t in instants if start < t <= end)]
    if len(points) == 1:
        return end - start
    return max(b - a for a, b in pairwise(points))


def test_leader_node_killed_while_publishing_and_consuming(
    database_url: str, tmp_path: Path
) -> None:
    create_effects_table(database_url)
    report = Report("RabbitMQ cluster: queue leader SIGKILLed and restarted (quorum queues)")
    outbox_keys = {f"outbox-{i:03d}" for i in range(OUTBOX_ROWS)}
    messages = [fault_message(f"ha-{i:04d}") for i in range(JOBS_SENT)]
    with rabbit_cluster(3) as cluster:
        # The producer, the relay and worker 1 start at node 1 (RABBITMQ_NODE_ORDER=listed),
        # where the queue is declared: its leader, the node killed below. They must fail over;
        # worker 2 starts at a random node.
        listed = {"RABBITMQ_QUEUE_TYPE": "quorum", "RABBITMQ_NODE_ORDER": "listed"}
        env = {"DATABASE_URL": database_url, "RABBITMQ_URL": cluster.rabbitmq_url, **listed}
        settings = load_settings(env)
        producer = rabbitmq_broker(settings, [])
        producer.declare_queue(FAULT_QUEUE, ensure=True)
        first = {**listed, "FAULT_WORKER": "w1"}
        quorum = {"RABBITMQ_QUEUE_TYPE": "quorum", "FAULT_WORKER": "w2"}
        with (
            traffic(
                database_url,
                producer,
                rabbitmq_broker(settings, middleware_stack(settings)),
                messages,
                outbox_keys,
                send_pause_s=0.008,
                retry_pause_s=0.2,
                outbox_pause_s=0.08,
            ) as load,
            worker_process(database_url, cluster.rabbitmq_url, tmp_path / "w1.log", **first) as w1,
            worker_process(database_url, cluster.rabbitmq_url, tmp_path / "w2.log", **quorum) as w2,
        ):
            leader, members = cluster.queue_members(FAULT_QUEUE, cluster.nodes[0])
            assert len(members) == 3, members
            assert leader == cluster.nodes[0].node  # declared there: it leads the queue
            load.start()
            wait_until(lambda: len(load.sent_at) >= 400, 120, "400 jobs sent before the kill")
            victim = cluster.node_named(leader)
            killed = time.time()
            victim.kill9()
            survivor = next(n for n in cluster.nodes if n is not victim)
            wait_until(lambda: len(load.sent_at) >= 1_200, 120, "sending goes on")
            new_leader, _ = cluster.queue_members(FAULT_QUEUE, survivor)
            victim.start()
            restarted = time.time()
            load.join_senders(timeout_s=300)
            wait_until(
                lambda: (
                    load.accepted <= set(effects(database_url)) and queue_depth(survivor.url) == 0
                ),
                180,
                "every accepted job applied and the queue empty",
            )
            drained = time.time()
            _, members_after = cluster.queue_members(FAULT_QUEUE, victim)
            assert w1.alive() and w2.alive()

    producer_pause = _longest_pause_after(load.sent_at, killed, restarted)
    # Each worker on its own: worker 1 was connected to the killed node and must reconnect.
    w1_pause = _longest_pause_after(applied_by(database_url, "w1"), killed, restarted)
    w2_pause = _longest_pause_after(applied_by(database_url, "w2"), killed, restarted)
    consumer_pause = max(w1_pause, w2_pause)
    report.recovery_s = max(producer_pause, consumer_pause)
    report.notes = {
        "killed": leader,
        "new_leader": new_leader,
        "members_after_restart": len(members_after),
        "producer_back_s": round(producer_pause, 2),
        "worker1_back_s": round(w1_pause, 2),
        "worker2_back_s": round(w2_pause, 2),
        "node_down_s": round(restarted - killed, 1),
        "drained_after_restart_s": round(drained - restarted, 1),
        "send_errors_retried": load.send_errors,
        "relayed": load.relay.totals.sent,
    }
    report.check(database_url, load.accepted)
    assert len(load.accepted) == JOBS_SENT + OUTBOX_ROWS
    assert load.relay.totals.sent == OUTBOX_ROWS
    assert new_leader != leader
    assert len(members_after) == 3
    assert producer_pause < BACK_WITHIN_S, f"producer stalled {producer_pause:.1f} s"
    assert consumer_pause < BACK_WITHIN_S, f"workers stalled {consumer_pause:.1f} s"
