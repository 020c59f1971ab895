"""Benchmark: no-op jobs/s through bare Dramatiq vs the project's full middleware stack.

Same run, same RabbitMQ, same actor (a no-op), same worker shape (default 2 processes x 8
threads): N messages are published first, then the worker processes are released together and
the clock stops when the last message is acknowledged. "ours" is ``middleware_stack()``: run
history (buffered, flushed in batches to a scratch PostgreSQL database), idempotency, retry
policy, time limits... The time until the run history holds every run is printed too.

Rounds alternate bare / ours to spread the noise of a shared 2-core machine; medians are printed
with the ratio (target: ours >= 70 % of bare).

Usage: .venv/bin/python bench/throughput.py [--jobs 20000] [--processes 2] [--threads 8]
       [--rounds 2]
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
) -> None:

    import dramatiq
    from dramatiq import Middleware, Worker
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    class CountAcks(Middleware):
        # after_ack runs when the worker thread hands the message back: for "ours" the
        # acknowledgement itself leaves once the run is committed, so the clock below stops
        # only when the queue holds nothing, ready or unacknowledged.
        def after_ack(self, broker: Any, message: Any) -> None:
            with acked.get_lock():
                acked.value += 1

    if flavor == "bare":
        broker = RabbitmqBroker(url=amqp)
    else:
        from yoked_actors import db
        from yoked_actors.broker import ServiceBroker, middleware_stack
        from yoked_actors.settings import load_settings

        settings = load_settings(
            {"DATABASE_URL": database_url, "RABBITMQ_URL": amqp, "METRICS_PORT": "0"}
        )
        db.configure(settings, url=database_url)
        broker = ServiceBroker(
            url=amqp, confirm_delivery=True, middleware=middleware_stack(settings)
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
    if flavor != "bare":
        from yoked_actors.runs.recorder import RECORDER

        RECORDER.close()
    broker.close()


def _publish(amqp: str, jobs: int) -> None:
    import dramatiq
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=amqp, middleware=[])
    broker.declare_queue(QUEUE, ensure=True)
    for i in range(jobs):
        broker.enqueue(
            dramatiq.Message(
                queue_name=QUEUE, actor_name="bench.noop", args=(), kwargs={"i": i}, options={}
            )
        )
    broker.close()


def _wait_until_drained(amqp: str) -> None:
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    broker = RabbitmqBroker(url=amqp, middleware=[])
    try:
        while sum(broker.get_queue_message_counts(QUEUE)) > 0:
            time.sleep(0.005)
    finally:
        broker.close()


def run_once(
    flavor: str, amqp: str, database_url: str, jobs: int, processes: int, threads: int
) -> tuple[float, float | None]:
    """(jobs/s, seconds after the last ack until job_runs held every run, for "ours")."""
    _publish(amqp, jobs)
    ctx = mp.get_context("spawn")
    ready, go, stop = ctx.Semaphore(0), ctx.Event(), ctx.Event()
    acked = ctx.Value("q", 0)
    children = [
        ctx.Process(
            target=_worker, args=(flavor, amqp, database_url, threads, ready, go, stop, acked)
        )
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    for _ in children:
        ready.acquire()
    start = time.perf_counter()
    go.set()
    while acked.value < jobs:  # every message handed back for acknowledgement
        time.sleep(0.005)
    _wait_until_drained(amqp)
    elapsed = time.perf_counter() - start
    done = acked.value
    stop.set()
    for child in children:
        child.join()
    lag = None
    if flavor == "ours":
        with psycopg.connect(database_url.replace("+psycopg", "")) as connection:
            recorded = connection.execute(
                "SELECT count(*) FROM job_runs WHERE status = 'succeeded'"
            ).fetchone()
            connection.execute("TRUNCATE job_runs")
        lag = time.perf_counter() - start - elapsed
        assert recorded is not None and recorded[0] >= jobs, f"run history has {recorded}"
    return done / elapsed, lag


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    name = f"yoked_bench_{os.getpid()}_{uuid.uuid4().hex[:4]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"], check=True
    )
    database_url = (
        ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    )
    amqp = f"amqp://guest:guest@{RABBITMQ_HOST}/{name}"
    try:
        from yoked_actors import migrate

        migrate.upgrade(database_url)
        figures: dict[str, list[float]] = {"bare": [], "ours": []}
        for round_ in range(args.rounds):
            for flavor in ("bare", "ours"):
                rate, lag = run_once(
                    flavor, amqp, database_url, args.jobs, args.processes, args.threads
                )
                figures[flavor].append(rate)
                extra = "" if lag is None else f", every run recorded {lag:.2f} s later"
                print(f"round {round_ + 1} {flavor:4}: {rate:8.0f} jobs/s{extra}", flush=True)
        bare, ours = (statistics.median(figures[f]) for f in ("bare", "ours"))
        print(
            f"\n{args.jobs} no-op jobs, {args.processes} processes x {args.threads} threads, "
            f"median of {args.rounds} rounds"
        )
        print(f"bare Dramatiq:           {bare:8.0f} jobs/s")
        print(f"our middleware stack:    {ours:8.0f} jobs/s")
        print(f"ratio ours / bare:       {ours / bare:8.1%}")
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], check=False)
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
