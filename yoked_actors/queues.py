"""The RabbitMQ queues, one per kind of work, so a slow job never delays an urgent one.

Operators see these names in the RabbitMQ management UI; each has a ``.DQ`` (delayed retries)
and a ``.XQ`` (dead letters) beside it, created by Dramatiq.
"""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    DEFAULT = "default"
    #: Daily match generation and expiration: big, scheduled, can wait minutes.
    MATCHING = "matching"
    #: Content moderation: latency-sensitive, one message per chat line.
    MODERATION = "moderation"
    #: Push notification batching and receipts.
    NOTIFICATIONS = "notifications"
    #: Nightly analytics.
    ANALYTICS = "analytics"
    #: Housekeeping: pruning, dispatchers, canaries.
    MAINTENANCE = "maintenance"
