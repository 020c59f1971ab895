"""Scheduling figures: fire computation speed, and ledger claim + enqueue throughput with 1, 2
and 4 scheduler replicas racing for the same fires (real PostgreSQL and RabbitMQ).

    .venv/bin/python bench/scheduling.py [--fires 300]

Uses a scratch database and vhost of its own, dropped at the end. Figures on a shared 2-core
machine are noisy: read them as orders of magnitude.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import func, select

ADMIN_URL = os.environ.get(
    "BENCH_DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_HOST = os.environ.get("BENCH_RABBITMQ_HOST", "127.0.0.1:5672")


def bench_computation() -> None:
    from yoked_actors.scheduling.cron import cron, next_fires

    start = datetime(2026, 1, 1, tzinfo=UTC)
    print("fire computation (next 10,000 fires):")
    for spec, tz in (
        ("* * * * *", "UTC"),
        ("* * * * *", "America/New_York"),
        ("*/15 * * * *", "Australia/Lord_Howe"),
        ("30 2 * * *", "Europe/London"),
    ):
        spec_obj = cron(spec, tz)
        began = time.perf_counter()
        next_fires(spec_obj, start, 10_000)
        elapsed = time.perf_counter() - began
        print(f"  {spec:<14} {tz:<20} {10_000 / elapsed:>10,.0f} fires/s")


def bench_ledger(fires: int) -> None:
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    from yoked_actors import db, migrate
    from yoked_actors.actors import load_actors
    from yoked_actors.broker import amqp_url_with_defaults, middleware_stack, use_broker
    from yoked_actors.models.scheduling import ScheduleFire
    from yoked_actors.schedules import Schedule
    from yoked_actors.scheduling.scheduler import Scheduler
    from yoked_actors.settings import load_settings

    name = f"yoked_bench_sched_{os.getpid()}_{uuid.uuid4().hex[:4]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", name], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    try:
        migrate.upgrade(url)
        settings = load_settings(
            {
                "DATABASE_URL": url,
                "METRICS_PORT": "0",
                "RABBITMQ_URL": f"amqp://guest:guest@{RABBITMQ_HOST}/{name}",
            }
        )
        db.configure(settings, url=url)
        broker = RabbitmqBroker(
            url=amqp_url_with_defaults(settings.require_rabbitmq_url()),
            confirm_delivery=True,
            middleware=middleware_stack(settings),
        )
        use_broker(broker)
        load_actors()
        print(
            f"\nledger claim + confirmed enqueue, {fires} fires of an every-minute schedule,"
            " replicas ticking each simulated minute concurrently:"
        )
        for replicas in (1, 2, 4):
            schedule_name = f"bench-{replicas}"
            schedule = Schedule(name=schedule_name, cron="* * * * *", actor_name="system.ping")
            instant = [datetime(2026, 3, 8, 11, 59, 30, tzinfo=UTC)]

            def next_minute(instant: list[datetime] = instant) -> None:
                instant[0] += timedelta(minutes=1)

            schedulers = [
                Scheduler([schedule], clock=lambda i=instant: i[0], scheduler_id=f"r{n}")
                for n in range(replicas)
            ]
            # Every replica ticks once per simulated minute, all at the same instant.
            barrier = threading.Barrier(replicas, action=next_minute)

            def run(scheduler: Scheduler, barrier: threading.Barrier = barrier) -> None:
                for _ in range(fires):
                    barrier.wait()
                    scheduler.tick()

            threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - began
            with db.session_scope() as session:
                rows = session.scalar(
                    select(func.count()).where(
                        ScheduleFire.schedule == schedule_name, ScheduleFire.status == "enqueued"
                    )
                )
            queued = broker.channel.queue_declare("maintenance", passive=True).method.message_count
            broker.channel.queue_purge("maintenance")
            print(
                f"  {replicas} replica(s): {fires / elapsed:>7,.0f} fires/s  "
                f"ledger rows {rows}, messages {queued} (expected {fires} each)"
            )
        broker.close()
    finally:
        db.dispose()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", name], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fires", type=int, default=300)
    args = parser.parse_args()
    bench_computation()
    bench_ledger(args.fires)


if __name__ == "__main__":
    main()
