"""What a push provider is: the messages it takes, the results and receipts it gives back.

A :class:`PushProvider` sends :class:`PushMessage` values (one push to one device) and answers
one :class:`PushResult` per message, in order; later it reports :class:`Receipt` values for the
tickets it issued. Two providers exist: the Expo push API (:mod:`.expo`) and
:class:`LogPushProvider`, which sends nothing and only logs ids and counts (development).
:mod:`.provider` picks one from the settings. Nothing here logs a token, a title or a body.
docs/notifications.md describes the whole flow.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from yoked_actors.notifications.digest import Content

logger = logging.getLogger(__name__)

#: A push is worthless a day later (the digest said "new").
TTL_SECONDS = 24 * 3600

Outcome = Literal["ok", "error", "carried", "unknown"]


@dataclass(frozen=True)
class PushMessage:
    """One push to one device; ``delivery_id`` is its ``notification_deliveries`` row."""

    delivery_id: int
    token: str
    content: Content

    def to_expo(self) -> dict[str, Any]:
        """The message in the Expo push API's request format."""
        return {
            "to": self.token,
            "title": self.content.title,
            "body": self.content.body,
            "data": self.content.data,
            "priority": self.content.priority,
            "sound": "default",
            "ttl": TTL_SECONDS,
        }


@dataclass(frozen=True)
class PushResult:
    """What became of one message: ``ok`` (a ticket), ``error`` (Expo refused it, with its
    code), ``carried`` (not sent: retries or the run's time ran out), ``unknown`` (sent, but
    no answer)."""

    outcome: Outcome
    ticket_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Receipt:
    """A ticket's receipt: ``ok`` or ``error`` with Expo's code (e.g. DeviceNotRegistered)."""

    status: str
    error: str | None = None


class PushProvider(Protocol):
    """Something that delivers pushes and reports receipts."""

    def send(
        self, messages: Sequence[PushMessage], *, deadline: float | None = None
    ) -> list[PushResult]:
        """One result per message, in order. ``deadline`` is a ``time.monotonic()`` value after
        which nothing more is started (the rest is ``carried``)."""
        ...

    def get_receipts(self, ticket_ids: Sequence[str]) -> dict[str, Receipt]:
        """Receipts of the tickets that have one; missing ids are not ready (or lost)."""
        ...

    def close(self) -> None: ...


class LogPushProvider:
    """Development provider: logs delivery ids and counts, sends nothing, every push "ok"."""

    def send(
        self, messages: Sequence[PushMessage], *, deadline: float | None = None
    ) -> list[PushResult]:
        if messages:
            ids = [m.delivery_id for m in messages]
            logger.info(
                "push (log provider): %d pushes, deliveries %s",
                len(ids),
                ids if len(ids) <= 20 else f"{ids[:20]}...",
            )
        return [PushResult("ok", ticket_id=f"log-{m.delivery_id}") for m in messages]

    def get_receipts(self, ticket_ids: Sequence[str]) -> dict[str, Receipt]:
        return {ticket_id: Receipt("ok") for ticket_id in ticket_ids}

    def close(self) -> None:
        pass
