"""What push results and receipts mean for our rows: pure functions, no database, no HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from yoked_actors.notifications.outcomes import (
    RECEIPT_RETENTION,
    ReceiptOutcome,
    classify_pushes,
    delivery_state,
    digest_outcome,
    receipt_outcome,
    ticket_result,
)
from yoked_actors.notifications.push import PushResult, Receipt

OK = PushResult("ok", ticket_id="t")
CARRIED = PushResult("carried", error="not_started")
UNKNOWN = PushResult("unknown", error="ReadTimeout")
REFUSED = PushResult("error", error="MessageTooBig")
GONE = PushResult("error", error="DeviceNotRegistered")
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ticket", "expected"),
    [
        ({"status": "ok", "id": "abc"}, PushResult("ok", ticket_id="abc")),
        ({"status": "ok"}, PushResult("error", error="UnknownError")),  # no ticket id
        (
            {"status": "error", "details": {"error": "DeviceNotRegistered"}},
            PushResult("error", error="DeviceNotRegistered"),
        ),
        # Not the message's fault: the digest waits for the next run.
        (
            {"status": "error", "details": {"error": "MessageRateExceeded"}},
            PushResult("carried", error="MessageRateExceeded"),
        ),
        (
            {"status": "error", "details": {"error": "InvalidCredentials"}},
            PushResult("carried", error="InvalidCredentials"),
        ),
        ({"status": "error"}, PushResult("error", error="UnknownError")),
        ("not a ticket", PushResult("unknown", error="bad_ticket")),
    ],
)
def test_a_ticket_becomes_the_result_of_its_message(ticket: object, expected: PushResult) -> None:
    assert ticket_result(ticket) == expected


def test_each_outcome_is_recorded_as_a_delivery_state() -> None:
    states = [delivery_state(r) for r in (OK, REFUSED, CARRIED, UNKNOWN)]
    assert states == ["sent", "failed", "carried", "unknown"]


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([REFUSED, OK, UNKNOWN], ("sent", None)),  # one device got it
        ([CARRIED, UNKNOWN], ("closed", "delivery_unknown")),  # maybe pushed: never again
        ([REFUSED, CARRIED], ("released", None)),  # the next run tries again
        ([GONE, REFUSED], ("closed", "push_error:DeviceNotRegistered")),  # the first error
    ],
)
def test_a_digest_is_sent_closed_or_released_by_its_pushes_results(
    results: list[PushResult], expected: tuple[str, str | None]
) -> None:
    assert digest_outcome(results) == expected


def test_a_chunk_is_classified_per_digest_in_order_with_dead_tokens() -> None:
    sent, closed, released = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    targets = [(sent, 1), (closed, 2), (sent, 3), (released, 4), (closed, None)]
    results = [GONE, UNKNOWN, OK, CARRIED, GONE]

    classified = classify_pushes(targets, results)

    assert classified.states == {"failed": 2, "unknown": 1, "sent": 1, "carried": 1}
    assert classified.dead_tokens == [1, None]  # None: the token row was deleted meanwhile
    assert classified.sent == [sent]
    assert classified.released == [released]
    assert classified.closed == [(closed, "delivery_unknown")]


def test_results_must_match_the_targets_one_for_one() -> None:
    with pytest.raises(ValueError):
        classify_pushes([(uuid.uuid4(), 1)], [OK, OK])


def test_a_receipt_is_recorded_and_device_not_registered_kills_the_token() -> None:
    sent_at = NOW - timedelta(minutes=20)
    assert receipt_outcome(Receipt("ok"), sent_at, NOW) == ReceiptOutcome("ok", "ok")
    assert receipt_outcome(Receipt("error", "DeviceNotRegistered"), sent_at, NOW) == (
        ReceiptOutcome("errors", "error", "DeviceNotRegistered", token_dead=True)
    )
    assert receipt_outcome(Receipt("error", "MessageTooBig"), sent_at, NOW) == (
        ReceiptOutcome("errors", "error", "MessageTooBig")
    )


def test_a_missing_receipt_is_asked_again_until_expo_no_longer_keeps_it() -> None:
    assert receipt_outcome(None, NOW - timedelta(hours=1), NOW) == ReceiptOutcome("not_ready")
    assert receipt_outcome(None, NOW - RECEIPT_RETENTION, NOW) == (
        ReceiptOutcome("expired", "expired")
    )
