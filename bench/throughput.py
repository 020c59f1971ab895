"""Benchmark: no-op jobs/s through bare Dramatiq vs the project's full middleware stack.

Same run, same RabbitMQ, same actor (a no-op), same worker shape (default 2 processes x 8
threads): N messages are published first, then the worker processes are released together and
the clock stops when the last message is acknowledged. "ours" is ``middleware_stack()``: run
history (buffered, flushed in batches to a scratch PostgreSQL database), idempotency, retry
policy, time limits... The time until the run history holds every run is printed too.

Rounds alternate bare / ours to spread the noise of a shared 2-core machine; medians are printed
with the ratio (target: ours >= 70 % of bare).

``--queue-type classic|quorum|both`` declares the queues as RABBITMQ_QUEUE_TYPE would
(yoked_actors/rabbitmq.py); ``both`` measures the two side by side in one run, each in a vhost of
its own. The publish rate (one message at a time, with publisher confirms, as our producers
send) and the workers' peak memory are printed as well.

Usage: .venv/bin/python bench/throughput.py [--jobs 20000] [--processes 2] [--threads 8]
       [--rounds 2] [--queue-type classic|quorum|both]
Servers: TEST_DATABASE_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres) and
TEST_RABBITMQ_HOST (default 127.0.0.1:5672, guest/guest); a scratch database and vhost are
created and dropped.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import time
import uuid
from typing import Any

import psycopg

ADMIN_URL = os.environ.get(
    "TEST_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1:5672")
QUEUE = "bench"


def _worker(
    flavor: str,
    amqp: str,
    database_url: str,
    threads: int,
    ready: Any,
    go: Any,
    stop: Any,
    acked: Any,
    queue_type: str,
    peak_kb: Any,
) -> None:
    import resource

    import dramatiq
    from dramatiq import Middleware, Worker

    from yoked_actors.rabbitmq import TypedRabbitmqBroker

    class CountAcks(Middleware):
        # Every ack counted at once: the run ends when all are acknowledged (a queue's message
        # count leaves out delivered-but-unacknowledged messages, so "empty" is not "done").
        def after_ack(self, broker: Any, message: Any) -> None:
            with acked.get_lock():
                acked.value += 1

    if flavor == "bare":
        broker = TypedRabbitmqBroker(queue_type=queue_type, url=amqp)
    else:
        from yoked_actors import db
        from yoked_actors.broker import ServiceBroker, middleware_stack
        from yoked_actors.settings import load_settings

        settings = load_settings(
            {"DATABASE_URL": database_url, "RABBITMQ_URL": amqp, "METRICS_PORT": "0"}
        )
        db.configure(settings, url=database_url)
        # "ours" acknowledges a message once its run is committed (broker.ServiceBroker).
        broker = ServiceBroker(
            queue_type=queue_type,
            url=amqp,
            confirm_delivery=True,
            middleware=middleware_stack(settings),
        )
    broker.add_middleware(CountAcks())
    dramatiq.set_broker(broker)

    @dramatiq.actor(queue_name=QUEUE, actor_name="bench.noop", max_retries=0)
    def noop(i: int) -> None:
        return None

    broker.emit_after("process_boot")
    ready.release()
    go.wait()
    worker = Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    stop.wait()
    worker.stop()
    with peak_kb.get_lock():
        peak_kb.value = max(peak_kb.value, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    if flavor != "bare":
        from yoked_actors.runs.recorder import RECORDER

        RECORDER.close()
    broker.close()


def _publish(amqp: str, jobs: int, queue_type: str) -> float:
    """Publish ``jobs`` messages one at a time with confirms; returns messages/s."""
    import dramatiq

    from yoked_actors.rabbitmq import TypedRabbitmqBroker

    broker = TypedRabbitmqBroker(
        queue_type=queue_type, url=amqp, confirm_delivery=True, middleware=[]
    )
    broker.declare_queue(QUEUE, ensure=True)
    start = time.perf_counter()
    for i in range(jobs):
        broker.enqueue(
            dramatiq.Message(
                queue_name=QUEUE, actor_name="bench.noop", args=(), kwargs={"i": i}, options={}
            )
        )
    rate = jobs / (time.perf_counter() - start)
    broker.close()
    return rate


def _wait_until_drained(amqp: str, queue_type: str) -> None:
    from yoked_actors.rabbitmq import TypedRabbitmqBroker

    broker = TypedRabbitmqBroker(queue_type=queue_type, url=amqp, middleware=[])
    try:
        while sum(broker.get_queue_message_counts(QUEUE)) > 0:
            time.sleep(0.005)
    finally:
        broker.close()


def run_once(
    flavor: str,
    amqp: str,
    database_url: str,
    jobs: int,
    processes: int,
    threads: int,
    queue_type: str,
) -> dict[str, float]:
    """jobs/s consumed, messages/s published, the workers' peak RSS (MB), and for "ours" the
    seconds after the last ack until job_runs held every run."""
    published = _publish(amqp, jobs, queue_type)
    ctx = mp.get_context("spawn")
    ready, go, stop = ctx.Semaphore(0), ctx.Event(), ctx.Event()
    acked = ctx.Value("q", 0)
    peak_kb = ctx.Value("q", 0)
    children = [
        ctx.Process(
            target=_worker,
            args=(flavor, amqp, database_url, threads, ready, go, stop, acked, queue_type, peak_kb),
        )
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    for _ in children:
        ready.acquire()
    start = time.perf_counter()
    go.set()
    while acked.value < jobs:
        time.sleep(0.005)
    _wait_until_drained(amqp, queue_type)
    elapsed = time.perf_counter() - start
    done = acked.value
    stop.set()
    for child in children:
        child.join()
    lag = 0.0
    if flavor == "ours":
        with psycopg.connect(database_url.replace("+psycopg", "")) as connection:
            recorded = connection.execute(
                "SELECT count(*) FROM job_runs WHERE status = 'succeeded'"
            ).fetchone()
            connection.execute("TRUNCATE job_runs")
        lag = time.perf_counter() - start - elapsed
        assert recorded is not None and recorded[0] >= jobs, f"run history has {recorded}"
    return {
        "rate": done / elapsed,
        "published": published,
        "peak_mb": peak_kb.value / 1024,
        "lag": lag,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--queue-type", choices=("classic", "quorum", "both"), default="classic")
    args = parser.parse_args()
    queue_types = ["classic", "quorum"] if args.queue_type == "both" else [args.queue_type]

    name = f"yoked_bench_{os.getpid()}_{uuid.uuid4().hex[:4]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    vhosts = {queue_type: f"{name}_{queue_type}" for queue_type in queue_types}
    for vhost in vhosts.values():
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            check=True,
        )
    database_url = (
        ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    )
    try:
        from yoked_actors import migrate

        migrate.upgrade(database_url)
        figures: dict[tuple[str, str], list[dict[str, float]]] = {}
        for round_ in range(args.rounds):
            for queue_type in queue_types:
                amqp = f"amqp://guest:guest@{RABBITMQ_HOST}/{vhosts[queue_type]}"
                for flavor in ("bare", "ours"):
                    got = run_once(
                        flavor,
                        amqp,
                        database_url,
                        args.jobs,
                        args.processes,
                        args.threads,
                        queue_type,
                    )
                    figures.setdefault((queue_type, flavor), []).append(got)
                    extra = f", every run recorded {got['lag']:.2f} s later" if got["lag"] else ""
                    print(
                        f"round {round_ + 1} {queue_type:7} {flavor:4}: {got['rate']:8.0f} "
                        f"jobs/s, published {got['published']:6.0f}/s, worker peak "
                        f"{got['peak_mb']:.0f} MB{extra}",
                        flush=True,
                    )

        def median(queue_type: str, flavor: str, key: str) -> float:
            return statistics.median(r[key] for r in figures[(queue_type, flavor)])

        print(
            f"\n{args.jobs} no-op jobs, {args.processes} processes x {args.threads} threads, "
            f"median of {args.rounds} rounds, load average {os.getloadavg()[0]:.2f}"
        )
        print(f"{'queue type':10} {'flavor':22} {'jobs/s':>8} {'published/s':>12} {'peak MB':>8}")
        for queue_type in queue_types:
            for flavor, label in (("bare", "bare Dramatiq"), ("ours", "our middleware stack")):
                print(
                    f"{queue_type:10} {label:22} {median(queue_type, flavor, 'rate'):8.0f} "
                    f"{median(queue_type, flavor, 'published'):12.0f} "
                    f"{median(queue_type, flavor, 'peak_mb'):8.0f}"
                )
            bare, ours = (median(queue_type, f, "rate") for f in ("bare", "ours"))
            print(f"{queue_type:10} {'ratio ours / bare':22} {ours / bare:8.1%}")
        if len(queue_types) == 2:
            for flavor in ("bare", "ours"):
                ratio = median("quorum", flavor, "rate") / median("classic", flavor, "rate")
                print(f"quorum / classic ({flavor}): {ratio:.1%} of the consume rate")
    finally:
        for vhost in vhosts.values():
            subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
