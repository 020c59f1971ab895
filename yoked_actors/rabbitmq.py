"""RabbitMQ specifics: the queue arguments of each queue type, a broker that declares them, and
the node list of a cluster.

**Queue types** (``RABBITMQ_QUEUE_TYPE``). ``classic`` queues (the default when the setting is
absent) live on one node: Dramatiq's own declarations, unchanged. ``quorum`` queues are
replicated on every node of a cluster (Raft): a queue survives the loss of a minority of its
nodes with every confirmed message. Each job queue ``<queue>``, its delay queue ``<queue>.DQ``
and its dead-letter queue ``<queue>.XQ`` get the arguments of :func:`queue_arguments`, which keep
the classic behaviour: a failed message is dead-lettered to ``<queue>.XQ`` and a dead letter is
dropped after :data:`DEAD_MESSAGE_TTL` (7 days).

**The delivery limit.** A quorum queue counts how often a message went back to the queue
(its consumer's connection was lost or it was requeued) and dead-letters it past
``x-delivery-limit``; RabbitMQ 4 applies a limit of 20 when the argument is absent. Our retry
policy never requeues: a retry acknowledges the message and publishes a new one to
``<queue>.DQ``, so the count only grows when a worker dies or disconnects while holding the
message — which includes every delayed retry a worker holds in memory until it is due, each time
any worker restarts. A limit of 20 would dead-letter such a message after 20 deploys, overriding
the retry policy; :data:`QUORUM_DELIVERY_LIMIT` is set so high that it never does (RabbitMQ 3.x
refuses negative values, so "unlimited" is spelled as a large number).

**Several nodes.** ``RABBITMQ_URL`` may list one URL per node, comma-separated. Each broker
starts at a random node of the list (connections spread over the cluster; with
``RABBITMQ_NODE_ORDER=listed``, at the first) and pika tries the
next one when a node refuses or drops the connection; the whole list is tried
``connection_attempts`` times with ``retry_delay`` seconds between rounds. Dramatiq's consumers
reconnect after ``dramatiq_restart_delay`` (3 s), the scheduler and the outbox relay back off on
a broker error; a send counts only once the node confirmed it (publisher confirms).
"""

from __future__ import annotations

import random
from typing import Any

import pika.exceptions
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL, RabbitmqBroker
from dramatiq.common import dq_name, xq_name

from yoked_actors.errors import SettingsError

QUEUE_TYPES = ("classic", "quorum")

#: ``x-delivery-limit`` of quorum queues: never reached by a message our retry policy handles.
QUORUM_DELIVERY_LIMIT = 1_000_000

#: The documented migration, named by the error a worker stops with.
MIGRATION_DOC = "docs/broker.md, 'Moving to quorum queues'"


def queue_arguments(queue_type: str, queue: str) -> dict[str, dict[str, Any]]:
    """The arguments of ``queue``, its ``.DQ`` and its ``.XQ``, by queue name."""
    if queue_type not in QUEUE_TYPES:
        raise ValueError(f"unknown queue type {queue_type!r}")
    dead_lettered: dict[str, Any] = {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": xq_name(queue),
    }
    dead_letters: dict[str, Any] = {"x-message-ttl": DEAD_MESSAGE_TTL}
    if queue_type == "quorum":
        quorum = {"x-queue-type": "quorum", "x-delivery-limit": QUORUM_DELIVERY_LIMIT}
        dead_lettered = {**quorum, **dead_lettered}
        dead_letters = {**quorum, **dead_letters}
    return {queue: dead_lettered, dq_name(queue): dict(dead_lettered), xq_name(queue): dead_letters}


class QueueTypeMismatch(SettingsError):
    """A queue exists on RabbitMQ with other arguments than the configured queue type's."""


class TypedRabbitmqBroker(RabbitmqBroker):
    """Dramatiq's RabbitMQ broker declaring its queues as ``queue_type`` (classic or quorum).

    A queue that exists with other arguments (classic queues from before a switch to quorum)
    stops the declaration with :class:`QueueTypeMismatch`, which says what to do, instead of
    Dramatiq's retry loop on ``PRECONDITION_FAILED``.
    """

    def __init__(self, *, queue_type: str = "classic", **kwargs: Any) -> None:
        if queue_type not in QUEUE_TYPES:
            raise SettingsError(f"RABBITMQ_QUEUE_TYPE={queue_type!r}: must be classic or quorum")
        self.queue_type = queue_type
        super().__init__(**kwargs)

    def _declare_with(self, name: str, canonical: str) -> Any:
        arguments = queue_arguments(self.queue_type, canonical)[name]
        try:
            return self.channel.queue_declare(queue=name, durable=True, arguments=arguments)
        except pika.exceptions.ChannelClosedByBroker as error:
            if error.reply_code != 406:  # PRECONDITION_FAILED
                raise
            del self.channel  # closed by RabbitMQ; the next caller opens a new one
            raise QueueTypeMismatch(
                mismatch_advice(name, self.queue_type, error.reply_text)
            ) from None

    def _declare_queue(self, queue_name: str) -> Any:
        return self._declare_with(queue_name, queue_name)

    def _declare_dq_queue(self, queue_name: str) -> Any:
        return self._declare_with(dq_name(queue_name), queue_name)

    def _declare_xq_queue(self, queue_name: str) -> Any:
        return self._declare_with(xq_name(queue_name), queue_name)


def mismatch_advice(queue: str, queue_type: str, reply: str) -> str:
    """One line: which queue, what RabbitMQ said, and the way out."""
    other = "classic" if queue_type == "quorum" else "quorum"
    return (
        f"RabbitMQ queue {queue!r} exists with other arguments than RABBITMQ_QUEUE_TYPE="
        f"{queue_type} declares (RabbitMQ: {reply}). It is probably a {other} queue: either set "
        f"RABBITMQ_QUEUE_TYPE={other}, or migrate — stop producers, let the workers drain the "
        f"queue, delete '{queue}' (and its .DQ/.XQ) and start a worker with "
        f"RABBITMQ_QUEUE_TYPE={queue_type} to redeclare them ({MIGRATION_DOC})."
    )


def ordered_nodes(urls: list[str], rng: random.Random | None = None) -> list[str]:
    """``urls`` rotated to start at a random node, the others following in the given order."""
    if len(urls) < 2:
        return list(urls)
    start = (rng or random).randrange(len(urls))
    return urls[start:] + urls[:start]
