"""The TypeScript client (clients/typescript) through a RabbitMQ restart: a Node process emitting
continuously stays alive, every emit resolves or rejects with "not sent: ...", and every resolved
emit is moderated by a worker. Uses a private RabbitMQ node, never the shared one.

Prints a FAULTS line like the rest of the fault suite.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from common_support import wait_until
from fault_effects import plain, seed_chat
from fault_processes import private_rabbit, worker_process
from rabbit_cluster import rabbit_cluster

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]

HERE = Path(__file__).resolve().parent
CLIENT = HERE.parents[1] / "clients" / "typescript"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Node.js client fault test needs Node.js")
    if not (CLIENT / "node_modules" / "amqplib").is_dir():
        pytest.fail("clients/typescript is not installed: run `npm ci --prefix clients/typescript`")
    return node


def _moderated(database_url: str, ids: list[str]) -> set[str]:
    with psycopg.connect(plain(database_url)) as connection:
        found = connection.execute(
            "SELECT message_id::text FROM moderation_results WHERE message_id = ANY(%s::uuid[])",
            (ids,),
        ).fetchall()
    return {r[0] for r in found}


def _start_emitter(node: str, rows_file: Path, url: str, queue_type: str) -> subprocess.Popen[str]:
    """The Node process emitting one message.sent every 10 ms until its stdin closes."""
    return subprocess.Popen(
        [
            node,
            str(HERE / "node_emit_loop.mjs"),
            str(CLIENT / "index.js"),
            str(rows_file),
            "10",
            queue_type,
        ],
        env={"PATH": "/usr/bin:/bin", "RABBITMQ_URL": url},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _settled(emitter: subprocess.Popen[str], back_at: float) -> dict[str, Any]:
    """Stop the emitter (close its stdin) and check what a caller relies on: the process
    lived, printed nothing on stderr, every emit settled, every rejection says "not sent"."""
    out, err = emitter.communicate(timeout=180)
    assert emitter.returncode == 0, err[-2000:]
    assert err == "", err[-2000:]  # no unhandled error, no warning
    lines = [json.loads(line) for line in out.splitlines()]
    outcomes = [x for x in lines if "ok" in x]
    rejected = [x for x in outcomes if not x["ok"]]
    emitted = next(x["done"] for x in lines if "done" in x)
    assert len(outcomes) == emitted  # every emit settled
    assert all(x["error"].startswith("not sent: ") for x in rejected), rejected[:3]
    assert all(x["name"] == "NotSentError" for x in rejected)
    after = sorted(x["at"] / 1000 for x in outcomes if x["ok"] and x["at"] / 1000 > back_at)
    assert after, "no emit resolved after the fault: the client did not reconnect"
    gaps = [b - a for a, b in zip([back_at, *after], after, strict=False)]
    assert max(gaps) < 10, f"emits stalled {max(gaps):.1f} s after the fault"
    return {
        "emits": emitted,
        "resolved": [x["row"] for x in outcomes if x["ok"]],
        "rejected": len(rejected),
        "rejection_reasons": sorted({x["error"].split(" (")[0][:60] for x in rejected}),
        "first_resolve_after_s": round(after[0] - back_at, 2),
        "resolved_after": len(after),
        "longest_gap_after_s": round(max(gaps), 2),
        "reconnected": sum(1 for x in lines if x.get("event") == "connected"),
        "reconnected_after_s": [
            round(x["at"] / 1000 - back_at, 2) for x in lines if x.get("event") == "connected"
        ],
    }


def test_node_client_rides_out_a_rabbitmq_restart(database_url: str, tmp_path: Path) -> None:
    node = _node()
    (tmp_path / "rows.json").write_text(json.dumps(seed_chat(database_url, 4_000, users=50)))
    with (
        private_rabbit() as rabbit,
        worker_process(database_url, rabbit.url, tmp_path / "worker.log") as worker,
    ):
        emitter = _start_emitter(node, tmp_path / "rows.json", rabbit.url, "classic")
        time.sleep(3)
        stopped_at = time.time()
        rabbit.stop()
        time.sleep(2)
        rabbit.start()
        back_at = time.time()
        time.sleep(6)  # keep emitting a while after the node is back
        notes = _settled(emitter, back_at)
        resolved = notes.pop("resolved")
        wait_until(
            lambda: _moderated(database_url, resolved) == set(resolved),
            120,
            "every resolved emit moderated",
        )
        assert worker.alive()
    notes.update(
        resolved=len(resolved),
        moderated_of_resolved=len(_moderated(database_url, resolved)),
        down_s=round(back_at - stopped_at, 1),
    )
    print(f"\nFAULTS node client through a RabbitMQ restart: {json.dumps(notes)}")


@pytest.mark.timeout(420)
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_node_client_fails_over_when_its_cluster_node_dies(
    database_url: str, tmp_path: Path
) -> None:
    """Quorum queues on a three-node cluster, RABBITMQ_URL listing the three nodes: the node the
    client is connected to (the first listed, where the queue was declared) is SIGKILLed."""
    node = _node()
    (tmp_path / "rows.json").write_text(json.dumps(seed_chat(database_url, 4_000, users=50)))
    listed = {"RABBITMQ_QUEUE_TYPE": "quorum", "RABBITMQ_NODE_ORDER": "listed"}
    with (
        rabbit_cluster(3) as cluster,
        worker_process(database_url, cluster.rabbitmq_url, tmp_path / "w1.log", **listed),
        worker_process(
            database_url, cluster.rabbitmq_url, tmp_path / "w2.log", RABBITMQ_QUEUE_TYPE="quorum"
        ) as w2,
    ):
        leader, members = cluster.queue_members("moderation", cluster.nodes[0])
        assert len(members) == 3, members
        # The client declares the workers' quorum queue: a different argument would be
        # refused (PRECONDITION_FAILED, reason "queue"); the checks below would fail.
        emitter = _start_emitter(node, tmp_path / "rows.json", cluster.rabbitmq_url, "quorum")
        time.sleep(3)
        victim = cluster.nodes[0]
        killed_at = time.time()
        victim.kill9()
        time.sleep(10)
        notes = _settled(emitter, killed_at)
        resolved = notes.pop("resolved")
        wait_until(
            lambda: _moderated(database_url, resolved) == set(resolved),
            180,
            "every resolved emit moderated",
        )
        assert w2.alive()
        assert not [r for r in notes["rejection_reasons"] if "other arguments" in r]
    notes.update(
        resolved=len(resolved),
        moderated_of_resolved=len(_moderated(database_url, resolved)),
        killed_was_leader=leader == victim.node,
    )
    print(f"\nFAULTS node client, cluster node killed (quorum): {json.dumps(notes)}")
