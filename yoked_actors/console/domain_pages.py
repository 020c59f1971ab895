"""The domain pages: matching runs, the moderation review queue, push deliveries, daily metrics.

Each is a read-only page (``?format=json`` gives the same dict); their queries are in
``console.store.domain``. The review queue shows ids, decisions, categories and times, never a
message's text: an operator sees one message's text only through the reveal action (operator
role, CSRF, a reason, an audit row naming the message), and only in that action's answer.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from yoked_actors.clock import utc_now
from yoked_actors.console import actions
from yoked_actors.console.auth import Principal
from yoked_actors.console.charts import chart
from yoked_actors.console.filters import FilterError, page_of, parse_cursor, parse_time, rfc3339
from yoked_actors.console.store import domain as domain_store
from yoked_actors.console.web import HTTPProblem, page
from yoked_actors.models.notifications import DELIVERY_STATES

#: Review queue rows a page (the Next link pages on, newest first).
REVIEW_PAGE_SIZE = 200
TOP_ERRORS = 10
METRIC_DAYS = 30
#: The charts of the metrics page: (metric, label, kind). Counts are bars, rates a line.
CHARTS = (
    ("dau", "Daily active users", "bars"),
    ("signups", "Signups", "bars"),
    ("offers_generated", "Offers generated", "bars"),
    ("messages_sent", "Messages sent", "bars"),
    ("flagged_rate", "Flag rate (flagged + hidden / sent)", "line"),
    ("notifications_sent", "Notifications sent", "bars"),
    ("notifications_failed", "Notifications failed", "bars"),
)


def _whole(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name) or str(default)
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise FilterError(name, f"{raw[:20]!r} is not a whole number from {low} to {high}")
    return int(raw)


def matching_page(session: Session, days: int) -> dict[str, Any]:
    since = utc_now().date() - timedelta(days=days - 1)
    rows = []
    for r in domain_store.matching_runs(session, since):
        coverage = (
            r.users_with_offers / r.eligible_users
            if r.eligible_users and r.users_with_offers is not None
            else None
        )
        rows.append(
            {
                "timezone": r.timezone,
                "local_date": r.local_date.isoformat(),
                "status": r.status,
                "attempts": r.attempts,
                "eligible_users": r.eligible_users,
                "users_with_offers": r.users_with_offers,
                "offers_written": r.offers_written,
                "coverage": coverage,
                "duration_ms": r.duration_ms,
                "started_at": r.started_at,
                "completed_at": r.completed_at,
            }
        )
    return {"days": days, "since": since.isoformat(), "runs": rows}


def moderation_page(
    session: Session, after: tuple[datetime, uuid.UUID] | None, limit: int = REVIEW_PAGE_SIZE
) -> dict[str, Any]:
    rows, next_cursor = page_of(
        domain_store.review_queue(session, after=after, limit=limit + 1),
        limit,
        lambda r: (r.created_at, r.message_id),
    )
    return {
        "counts": domain_store.review_counts(session),
        "limit": limit,
        "queue": [
            {
                "message_id": str(r.message_id),
                "sender_id": None if r.sender_id is None else str(r.sender_id),
                "decision": r.decision,
                "categories": list(r.categories),
                "signals": list(r.signals),
                "source": r.source,
                "held": r.held,
                "created_at": r.created_at,
                "review": r.review,
            }
            for r in rows
        ],
        "next": next_cursor,
    }


def _review_cursor(request: Request) -> tuple[datetime, uuid.UUID] | None:
    raw = request.query_params.get("after")
    if not raw:
        return None
    at, message_id = parse_cursor(raw)
    try:
        return at, uuid.UUID(message_id)
    except ValueError:
        raise FilterError("after", "not a page cursor (use the Next link)") from None


def deliveries_page(session: Session, since_raw: str) -> dict[str, Any]:
    now = utc_now()
    since = parse_time(since_raw, name="since", now=now)
    counts = domain_store.delivery_states(session, since)
    errors = domain_store.delivery_errors(session, since, TOP_ERRORS)
    return {
        "since": since,
        "window": since_raw,
        "states": {state: counts.get(state, 0) for state in DELIVERY_STATES},
        "total": sum(counts.values()),
        "receipt_errors": [{"error": e, "count": n} for e, n in errors["receipt"]],
        "ticket_errors": [{"error": e, "count": n} for e, n in errors["ticket"]],
    }


def metrics_page(session: Session, days: int = METRIC_DAYS) -> dict[str, Any]:
    today = utc_now().date()
    dates = [today - timedelta(days=d) for d in range(days - 1, -1, -1)]
    rows = domain_store.daily_totals(session, [m for m, _, _ in CHARTS], dates[0])
    values = {(r.metric, r.metric_date): r.value for r in rows}
    charts = []
    for metric, label, kind in CHARTS:
        series = [(d, values.get((metric, d))) for d in dates]
        charts.append(
            {
                "metric": metric,
                "label": label,
                "series": [{"day": d.isoformat(), "value": v} for d, v in series],
                "chart": chart(series, kind),
            }
        )
    return {"since": dates[0].isoformat(), "until": today.isoformat(), "charts": charts}


# -- routes --------------------------------------------------------------------------------


async def matching(request: Request) -> Response:
    def build(session: Session, who: Principal) -> dict[str, Any]:
        return matching_page(session, _whole(request, "days", 14, 1, 90))

    return await page(request, "matching.html", build)


async def moderation(request: Request) -> Response:
    def build(session: Session, who: Principal) -> dict[str, Any]:
        return moderation_page(session, _review_cursor(request))

    return await page(request, "moderation.html", build)


async def deliveries(request: Request) -> Response:
    since = request.query_params.get("since") or "24h"
    return await page(request, "deliveries.html", lambda s, who: deliveries_page(s, since))


async def metrics(request: Request) -> Response:
    return await page(request, "metrics.html", lambda s, who: metrics_page(s))


def _reveal(raw_id: str) -> actions.Work:
    def work(
        session: Session, who: Principal, form: dict[str, str]
    ) -> tuple[str, str, dict[str, Any]]:
        from yoked_actors.moderation.store import stored_content

        try:
            message_id = uuid.UUID(raw_id)
        except ValueError:
            raise HTTPProblem(404, f"{raw_id[:60]!r} is not a message id") from None
        decision = domain_store.review_decision(session, message_id)
        if decision is None:
            raise HTTPProblem(404, f"message {message_id} is not in the review queue")
        content = stored_content(session, message_id)
        if content is None:
            raise HTTPProblem(410, f"message {message_id} no longer exists")
        # The audit row records who, which message and why; the text is only in this answer.
        return (
            str(message_id),
            "revealed",
            {"decision": decision, "content": content, "revealed_at": rfc3339(utc_now())},
        )

    return work


def _decide(raw_id: str) -> actions.Work:
    """Uphold or overturn a verdict through moderation's review module (the CLI's function)."""

    def work(
        session: Session, who: Principal, form: dict[str, str]
    ) -> tuple[str, str, dict[str, Any]]:
        from yoked_actors.moderation import review

        try:
            message_id = uuid.UUID(raw_id)
        except ValueError:
            raise HTTPProblem(404, f"{raw_id[:60]!r} is not a message id") from None
        try:
            done = review.decide(
                session,
                message_id,
                form.get("action", ""),
                reason=form["reason"],
                reviewer=f"console:{who.name}",
            )
        except review.ReviewError as error:
            raise HTTPProblem(400, str(error)) from None
        outcome = done.outcome if done.applied else f"already {done.outcome}"
        return str(message_id), outcome, {"applied": done.applied, "effects": done.effects}

    return work


async def decide(request: Request) -> Response:
    raw_id = request.path_params["message_id"]
    return await actions.act(request, "moderation_review", raw_id[:60], _decide(raw_id))


async def reveal(request: Request) -> Response:
    raw_id = request.path_params["message_id"]
    return await actions.act(
        request, "moderation_reveal", raw_id[:60], _reveal(raw_id), template="revealed.html"
    )
