"""Sending to the fault queue, and the load a scenario runs while it takes RabbitMQ away.

A producer publishes fault messages as the API would (a plain broker with confirms); the
:class:`Traffic` of a scenario sends, fills the outbox and runs the outbox relay at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dramatiq
import fault_actors
import pika
import psycopg
from dramatiq import Broker, Message
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from fault_effects import FAULT_JOB, FAULT_QUEUE, create_effects_table, plain

from yoked_actors.broker import use_broker
from yoked_actors.jobs import JOBS
from yoked_actors.runs.outbox import Relay

# -- Sending -------------------------------------------------------------------------------


def producer_broker(rabbitmq_url: str) -> RabbitmqBroker:
    """A plain broker with confirms, as any producer (the API) would publish with."""
    broker = RabbitmqBroker(url=rabbitmq_url, confirm_delivery=True, middleware=[])
    broker.declare_queue(FAULT_QUEUE, ensure=True)
    return broker


def purge(rabbitmq_url: str, *queues: str) -> None:
    """Empty ``queues``, their delay and their dead-letter queues (what earlier tests left)."""
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    channel = connection.channel()
    for queue in queues:
        for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
            try:
                channel.queue_purge(name)
            except pika.exceptions.ChannelClosedByBroker:  # not declared yet: nothing in it
                channel = connection.channel()
    connection.close()


def fresh_start(database_url: str, rabbitmq_url: str) -> None:
    """An empty effects table and run history, and the fault queues declared and empty."""
    create_effects_table(database_url)
    producer_broker(rabbitmq_url).close()
    purge(rabbitmq_url, FAULT_QUEUE)


def fault_message(key: str, **payload: Any) -> Message[Any]:
    return Message(
        queue_name=FAULT_QUEUE,
        actor_name=FAULT_JOB,
        args=(),
        kwargs={"key": key, **payload},
        options={},
    )


def queue_depth(rabbitmq_url: str) -> int:
    """Messages ready or unacknowledged in the fault queue and its delay queue."""
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq_url))
    try:
        channel = connection.channel()
        total = 0
        for name in (FAULT_QUEUE, f"{FAULT_QUEUE}.DQ"):
            total += channel.queue_declare(name, passive=True, durable=True).method.message_count
        return total
    finally:
        connection.close()


# -- Load while RabbitMQ goes away ---------------------------------------------------------


class Traffic:
    """What a scenario runs while it takes RabbitMQ away, each on a thread of this process once
    :meth:`start` is called: a producer sending ``messages`` with confirms (a failed send is
    retried with the same message, so its id and idempotency key stay), the outbox filled with
    ``outbox_keys`` by plain SQL in their own transactions (the API's way), and the outbox relay
    publishing them through the current broker.

    ``accepted`` holds the keys of the confirmed sends, and once :meth:`join_senders` returns
    the outbox rows' keys too; ``sent_at`` the Unix times of the confirmed sends.
    """

    def __init__(
        self,
        database_url: str,
        producer: Broker,
        messages: list[Message[Any]],
        outbox_keys: set[str],
        *,
        send_pause_s: float,
        retry_pause_s: float,
        outbox_pause_s: float,
        give_up_after_s: float = 300.0,
    ) -> None:
        self.database_url = database_url
        self.producer = producer
        self.messages = messages
        self.outbox_keys = outbox_keys
        self.send_pause_s, self.retry_pause_s = send_pause_s, retry_pause_s
        self.outbox_pause_s = outbox_pause_s
        self.give_up_after_s = give_up_after_s
        self.accepted: set[str] = set()
        self.sent_at: list[float] = []
        self.send_errors = 0
        self.relay = Relay(poll_interval_s=1.0, max_backoff_s=2.0)
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=f, daemon=True)
            for f in (self._produce, self._fill_outbox, self.relay.run)
        ]

    def _produce(self) -> None:
        for message in self.messages:
            if self._stop.is_set():
                return
            deadline = time.monotonic() + self.give_up_after_s
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    self.producer.enqueue(message)
                    self.accepted.add(message.kwargs["key"])
                    self.sent_at.append(time.time())
                    break
                except Exception:
                    self.send_errors += 1
                    time.sleep(self.retry_pause_s)
            time.sleep(self.send_pause_s)

    def _fill_outbox(self) -> None:
        with psycopg.connect(plain(self.database_url), autocommit=True) as connection:
            for key in sorted(self.outbox_keys):
                if self._stop.is_set():
                    return
                connection.execute(
                    "INSERT INTO outbox (actor, payload) VALUES (%s, %s)",
                    (FAULT_JOB, json.dumps({"key": key})),
                )
                time.sleep(self.outbox_pause_s)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join_senders(self, timeout_s: float) -> None:
        """Wait for the producer and the outbox rows (each thread at most ``timeout_s``)."""
        for thread in self._threads[:2]:
            thread.join(timeout=timeout_s)
        self.accepted |= self.outbox_keys

    def stop(self) -> None:
        self._stop.set()
        self.relay.stop()
        for thread in self._threads:
            if thread.ident is not None:  # started
                thread.join(timeout=30)


@contextmanager
def traffic(
    database_url: str,
    producer: Broker,
    relay_broker: Broker,
    messages: list[Message[Any]],
    outbox_keys: set[str],
    **pace: float,
) -> Iterator[Traffic]:
    """A :class:`Traffic` whose relay publishes through ``relay_broker`` (the fault job declared
    on it); at the end its threads stop, both brokers close and the previous broker is back."""
    previous = dramatiq.get_broker()
    use_broker(relay_broker)
    fault_actors.declare()
    load = Traffic(database_url, producer, messages, outbox_keys, **pace)
    try:
        yield load
    finally:
        load.stop()
        JOBS.pop(FAULT_JOB, None)
        use_broker(previous)
        relay_broker.close()
        producer.close()
