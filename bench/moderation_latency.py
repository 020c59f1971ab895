"""Benchmark: moderation end to end, emit -> decision committed, with real worker processes.

Two figures, one run, same servers:

1. Throughput: N ``message.sent`` events are published while no worker runs; then
   ``yoked worker -p 2 -t 8 -Q moderation`` starts, and decisions/s are counted between the
   500th and the last committed result (so worker boot and classifier loading are excluded).
   Over the same span, the CPU per decision of the worker processes, of PostgreSQL and of
   RabbitMQ (every such process on the machine: run it with nothing else using them), and
   what their sum allows on the machine's 2 cores.
2. Latency at a sustained rate (default 100 msg/s for 30 s) with the same, now warm, workers:
   for each event, the time from just before ``emit()`` (publisher confirms on) until a poller
   (every 2 ms, its own connection) sees its ``moderation_results`` row committed. p50 / p90 /
   p99 / max are printed. The poll interval adds up to 2 ms to each figure.

Messages are real rows (texts drawn from eval/moderation/, so about half are flagged and write
strikes, suspensions and notifications). A scratch database and vhost are created and dropped.

Usage: .venv/bin/python bench/moderation_latency.py [--messages 10000] [--rate 100]
       [--seconds 30] [--processes 2] [--threads 8]
Servers: TEST_DATABASE_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres) and
TEST_RABBITMQ_HOST (default 127.0.0.1:5672, guest/guest).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg

ADMIN_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1:5672")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from moderation_eval import load_set  # noqa: E402


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


def _processes() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent pid, command name, user + system CPU seconds), from Linux /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                head, _, tail = stat.read().rpartition(")")
        except OSError:
            continue
        fields = tail.split()
        cpu = (int(fields[11]) + int(fields[12])) / tick
        found[int(entry)] = (int(fields[1]), head.partition("(")[2], cpu)
    return found


def _tree(root: int, processes: dict[int, tuple[int, str, float]]) -> set[int]:
    """``root`` and all its descendants among ``processes``."""
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, (ppid, _, _) in processes.items() if ppid == parent]
        tree.update(children)
        frontier.extend(children)
    return tree


def _tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of ``root`` and all its descendants."""
    processes = _processes()
    return sum(processes[pid][2] for pid in _tree(root, processes) if pid in processes)


def _servers_cpu_seconds() -> dict[str, float]:
    """CPU seconds of every PostgreSQL and RabbitMQ (Erlang VM) process on the machine."""
    totals = {"PostgreSQL": 0.0, "RabbitMQ": 0.0}
    for _, name, cpu in _processes().values():
        if name == "postgres":
            totals["PostgreSQL"] += cpu
        elif name.startswith(("beam", "erl_child")):
            totals["RabbitMQ"] += cpu
    return totals


def _tree_rss_mb(root: int) -> list[float]:
    """Resident memory (MB) of ``root`` and each of its descendants, largest first."""
    rss: dict[int, float] = {}
    for pid in _tree(root, _processes()):
        try:
            with open(f"/proc/{pid}/status") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        if "VmRSS" in fields:
            rss[pid] = int(fields["VmRSS"].split()[0]) / 1024
    return sorted(rss.values(), reverse=True)


Row = tuple[uuid.UUID, uuid.UUID, str]


def _seed(url: str, count: int) -> list[Row]:
    """``count`` messages from 500 users; returns (message id, sender id, content)."""
    texts = [text for _, text in load_set()]
    rng = random.Random(7)
    users = [uuid.uuid4() for _ in range(500)]
    rows = []
    with psycopg.connect(url) as connection:
        with connection.cursor().copy("COPY users (id) FROM STDIN") as copy:
            for user in users:
                copy.write_row((user,))
        with connection.cursor().copy(
            "COPY messages (id, sender_id, recipient_id, content) FROM STDIN"
        ) as copy:
            for _ in range(count):
                message, sender, recipient = uuid.uuid4(), rng.choice(users), rng.choice(users)
                content = rng.choice(texts)
                copy.write_row((message, sender, recipient, content))
                rows.append((message, sender, content))
    return rows


def _payload(row: Row) -> dict[str, str]:
    """The event as the API sends it: the stored text included."""
    message, sender, content = row
    return {"messageId": str(message), "content": content, "senderId": str(sender)}


def _count(url: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM moderation_results").fetchone()
        return int(row[0]) if row else 0


def _throughput(url: str, n: int) -> float:
    with psycopg.connect(url) as connection:
        times = [
            row[0]
            for row in connection.execute(
                "SELECT created_at FROM moderation_results ORDER BY created_at"
            )
        ]
    skip = min(500, n // 10)
    span = (times[-1] - times[skip]).total_seconds()
    return (len(times) - 1 - skip) / span


def _latency(url: str, rows: list[Row], rate: float, emit) -> list[float]:
    sent: dict[uuid.UUID, float] = {}
    seen: dict[uuid.UUID, float] = {}
    lock = threading.Lock()
    done = threading.Event()

    def poll() -> None:
        with psycopg.connect(url, autocommit=True) as connection:
            while not done.is_set() or len(seen) < len(sent):
                with lock:
                    pending = [m for m in sent if m not in seen]
                if pending:
                    found = connection.execute(
                        "SELECT message_id FROM moderation_results WHERE message_id = ANY(%s)",
                        (pending,),
                    ).fetchall()
                    now = time.perf_counter()
                    for (message_id,) in found:
                        seen[message_id] = now
                time.sleep(0.002)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    start = time.perf_counter()
    for i, row in enumerate(rows):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        with lock:
            sent[row[0]] = time.perf_counter()
        emit(_payload(row))
    achieved = len(rows) / (time.perf_counter() - start)
    done.set()
    poller.join(timeout=60)
    print(f"  sent {len(rows)} at {achieved:.1f} msg/s; judged {len(seen)}")
    return [(seen[m] - sent[m]) * 1000 for m in sent if m in seen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    arguments = parser.parse_args()

    run = uuid.uuid4().hex[:8]
    name = f"yoked_bench_moderation_{run}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    _rabbitmqctl("add_vhost", name)
    _rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    amqp = f"amqp://guest:guest@{RABBITMQ_HOST}/{quote(name, safe='')}"
    env = {
        **os.environ,
        "DATABASE_URL": sa_url,
        "RABBITMQ_URL": amqp,
        "METRICS_PORT": "0",
        "LOG_LEVEL": "warning",
        "YOKED_ENV": "test",
    }
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "RABBITMQ_URL", "METRICS_PORT")})
    worker = None
    try:
        from yoked_actors import events, migrate
        from yoked_actors.actors import load_actors
        from yoked_actors.broker import setup_broker
        from yoked_actors.settings import load_settings

        migrate.upgrade(sa_url)
        latency_count = int(arguments.rate * arguments.seconds)
        rows = _seed(url, arguments.messages + latency_count)
        setup_broker(load_settings(env))
        load_actors()

        def emit(payload: dict[str, str]) -> None:
            events.emit("message.sent", payload)

        from yoked_actors.moderation.engine import engine_version

        print(f"load average {os.getloadavg()[0]:.1f}; engine: {engine_version()}")
        print(
            f"throughput: {arguments.messages} events queued, then "
            f"yoked worker -p {arguments.processes} -t {arguments.threads}"
        )
        for row in rows[: arguments.messages]:
            emit(_payload(row))
        worker = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "yoked"),
                "worker",
                "-p",
                str(arguments.processes),
                "-t",
                str(arguments.threads),
                "-Q",
                "moderation",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 600
        cpu_at_500: tuple[int, float, dict[str, float]] | None = None
        while (done := _count(url)) < arguments.messages and time.monotonic() < deadline:
            if cpu_at_500 is None and done >= 500:
                cpu_at_500 = (done, _tree_cpu_seconds(worker.pid), _servers_cpu_seconds())
            time.sleep(0.2)
        print(
            f"  {_throughput(url, arguments.messages):.0f} decisions/s "
            f"(committed results, 500th to last)"
        )
        if cpu_at_500 is not None:
            decisions = arguments.messages - cpu_at_500[0]
            per = (_tree_cpu_seconds(worker.pid) - cpu_at_500[1]) / decisions * 1000
            servers = {
                name: (cpu - cpu_at_500[2][name]) / decisions * 1000
                for name, cpu in _servers_cpu_seconds().items()
            }
            total = per + sum(servers.values())
            print(
                f"  CPU per decision: workers {per:.2f} ms (user+system, all worker processes), "
                + ", ".join(f"{name} {ms:.2f} ms" for name, ms in servers.items())
                + f"; total {total:.2f} ms -> {2000 / total:.0f} decisions/s on 2 cores"
            )

        rss = _tree_rss_mb(worker.pid)
        print(
            "  worker memory (RSS per process of the tree, models loaded): "
            + ", ".join(f"{size:.0f} MB" for size in rss)
            + f" (total {sum(rss):.0f} MB)"
        )
        print(
            f"latency: {arguments.rate:.0f} msg/s for {arguments.seconds:.0f} s, emit -> committed"
        )
        latencies = sorted(_latency(url, rows[arguments.messages :], arguments.rate, emit))
        q = statistics.quantiles(latencies, n=100)
        print(
            f"  p50 {q[49]:.1f} ms, p90 {q[89]:.1f} ms, p99 {q[98]:.1f} ms, "
            f"max {latencies[-1]:.1f} ms"
        )
        with psycopg.connect(url) as connection:
            decisions: dict[str, int] = dict(
                connection.execute(
                    "SELECT decision, count(*) FROM moderation_results GROUP BY decision"
                ).fetchall()
            )
        print(f"  decisions: {decisions}")
        print(f"load average at the end {os.getloadavg()[0]:.1f}")
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        from yoked_actors import db

        db.dispose()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _rabbitmqctl("delete_vhost", name)


if __name__ == "__main__":
    main()
