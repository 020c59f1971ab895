"""What push results and receipts mean for our rows: pure classification, no I/O.

- :func:`ticket_result`: an Expo ticket as a :class:`~.push.PushResult`. Too many pushes to one
  device (``MessageRateExceeded``) or wrong push credentials (``InvalidCredentials``) are not the
  message's fault: ``carried`` to the next run. Any other error code is the message's ``error``.
- :func:`classify_pushes`: one chunk's results as delivery states, dead tokens, and what becomes
  of each digest. A digest is ``sent`` if any of its pushes got a ticket; else closed as
  ``delivery_unknown`` if one was sent without an answer (never re-sent); else released for the
  next run if one was carried; else closed as ``push_error:<code>``.
- :func:`receipt_outcome`: what to record for a ticket's receipt, or for its absence (Expo keeps
  receipts for a day: a ticket still without one after :data:`RECEIPT_RETENTION` is ``expired``).

``DeviceNotRegistered`` (in a ticket or a receipt) means the token is dead: it is deactivated.
docs/notifications.md describes the states.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from yoked_actors.notifications.push import PushResult, Receipt

#: PushResult.outcome -> the ``notification_deliveries.state`` it is recorded as.
DELIVERY_STATE = {"ok": "sent", "error": "failed", "carried": "carried", "unknown": "unknown"}
#: Expo's code for a token that no longer reaches a device.
DEVICE_NOT_REGISTERED = "DeviceNotRegistered"
#: Ticket errors that are not the message's fault: the digest waits for the next run.
CARRIED_TICKET_ERRORS = ("MessageRateExceeded", "InvalidCredentials")
#: Expo keeps receipts for a day; after that a missing receipt will never come.
RECEIPT_RETENTION = timedelta(hours=24)


def ticket_result(ticket: Any) -> PushResult:
    """One entry of Expo's ``data`` list (a ticket) as the result of its message."""
    if not isinstance(ticket, dict):
        return PushResult("unknown", error="bad_ticket")
    if ticket.get("status") == "ok" and ticket.get("id"):
        return PushResult("ok", ticket_id=str(ticket["id"]))
    error = (ticket.get("details") or {}).get("error") or "UnknownError"
    if error in CARRIED_TICKET_ERRORS:
        return PushResult("carried", error=error)
    return PushResult("error", error=str(error))


def delivery_state(result: PushResult) -> str:
    """The ``notification_deliveries.state`` a result is recorded as."""
    return DELIVERY_STATE[result.outcome]


def digest_outcome(results: Sequence[PushResult]) -> tuple[str, str | None]:
    """What becomes of a digest given its pushes' results (at least one):
    ``("sent", None)``, ``("released", None)`` or ``("closed", reason)``."""
    outcomes = {r.outcome for r in results}
    if "ok" in outcomes:
        return "sent", None
    if "unknown" in outcomes:
        return "closed", "delivery_unknown"
    if "carried" in outcomes:
        return "released", None
    return "closed", f"push_error:{results[0].error}"


@dataclass
class PushOutcomes:
    """What one chunk's results mean: counts per delivery state, tokens to deactivate, and the
    digests to mark sent, to release for the next run, or to close with a reason."""

    states: Counter[str] = field(default_factory=Counter)
    dead_tokens: list[int | None] = field(default_factory=list)
    sent: list[UUID] = field(default_factory=list)
    released: list[UUID] = field(default_factory=list)
    closed: list[tuple[UUID, str]] = field(default_factory=list)


def classify_pushes(
    targets: Sequence[tuple[UUID, int | None]], results: Sequence[PushResult]
) -> PushOutcomes:
    """Classify a chunk: ``targets[i]`` is the (digest id, token id) that ``results[i]`` is for.

    Digests appear in the order of their first push.
    """
    classified = PushOutcomes()
    by_digest: dict[UUID, list[PushResult]] = {}
    for (digest_id, token_id), result in zip(targets, results, strict=True):
        by_digest.setdefault(digest_id, []).append(result)
        classified.states[delivery_state(result)] += 1
        if result.error == DEVICE_NOT_REGISTERED:
            classified.dead_tokens.append(token_id)
    for digest_id, digest_results in by_digest.items():
        outcome, reason = digest_outcome(digest_results)
        if outcome == "sent":
            classified.sent.append(digest_id)
        elif outcome == "released":
            classified.released.append(digest_id)
        else:
            classified.closed.append((digest_id, reason or ""))
    return classified


@dataclass(frozen=True)
class ReceiptOutcome:
    """What to do about one sent delivery's receipt."""

    #: The summary count it adds to: ``ok``, ``errors``, ``expired`` or ``not_ready``.
    counted_as: str
    #: The ``receipt_status`` to record (``ok``, ``error``, ``expired``); None: ask again later.
    status: str | None = None
    error: str | None = None
    #: The receipt says the token no longer reaches a device.
    token_dead: bool = False


def receipt_outcome(receipt: Receipt | None, sent_at: datetime, now: datetime) -> ReceiptOutcome:
    """The outcome of a delivery sent at ``sent_at`` whose receipt is ``receipt`` (None: Expo
    has none for its ticket, yet or ever)."""
    if receipt is not None:
        return ReceiptOutcome(
            counted_as="ok" if receipt.status == "ok" else "errors",
            status=receipt.status,
            error=receipt.error,
            token_dead=receipt.error == DEVICE_NOT_REGISTERED,
        )
    if sent_at <= now - RECEIPT_RETENTION:
        return ReceiptOutcome(counted_as="expired", status="expired")
    return ReceiptOutcome(counted_as="not_ready")
