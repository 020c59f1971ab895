"""The domain pages (matching, moderation review queue, push deliveries, daily metrics): what a
viewer reads, as HTML and as JSON, and the audited reveal of one message's text."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from selenium.webdriver.common.by import By
from sqlalchemy import update

from tests.console.conftest import basic
from tests.console.console_support import SCREENSHOTS, audit_rows, log_in
from tests.console.domain_support import (
    SECRET,
    add_delivery,
    add_held_verdict,
    add_judged_message,
    add_matching_run,
    add_metric,
    add_review_backlog,
    add_user,
    logged_in,
)
from yoked_actors import db
from yoked_actors.clock import utc_now
from yoked_actors.console.domain_pages import REVIEW_PAGE_SIZE
from yoked_actors.models.contract import Message, User


@pytest.fixture
def clients():
    opened: list[httpx.Client] = []

    def open_one(base: str, name: str) -> tuple[httpx.Client, str]:
        client, csrf = logged_in(base, name)
        opened.append(client)
        return client, csrf

    yield open_one
    for client in opened:
        client.close()


def _json(base: str, path: str) -> dict:
    joiner = "&" if "?" in path else "?"
    reply = httpx.get(f"{base}{path}{joiner}format=json", auth=basic("vera"))
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_matching_runs_per_timezone_and_day(console_server, users, clients):
    today = utc_now().date()
    add_matching_run("Europe/Paris", today, 200, 150)
    add_matching_run("America/New_York", today - timedelta(days=1), 80, 20)
    add_matching_run("Asia/Tokyo", today, None, None)  # still running
    add_matching_run("Europe/Paris", today - timedelta(days=40), 10, 10)  # out of the window
    client, _ = clients(console_server.url, "vera")
    html = client.get("/matching").text
    assert "Europe/Paris" in html and "75.0 %" in html and "25.0 %" in html and "1234 ms" in html
    assert "running" in html
    runs = _json(console_server.url, "/matching")["runs"]
    assert [(r["timezone"], r["local_date"]) for r in runs] == [
        ("Asia/Tokyo", today.isoformat()),
        ("Europe/Paris", today.isoformat()),
        ("America/New_York", (today - timedelta(days=1)).isoformat()),
    ]
    paris = runs[1]
    assert (paris["eligible_users"], paris["users_with_offers"], paris["coverage"]) == (
        200,
        150,
        0.75,
    )
    assert paris["offers_written"] == 450 and paris["duration_ms"] == 1234
    assert runs[0]["coverage"] is None and runs[0]["status"] == "running"
    assert len(_json(console_server.url, "/matching?days=60")["runs"]) == 4
    bad = httpx.get(f"{console_server.url}/matching?days=0&format=json", auth=basic("vera"))
    assert bad.status_code == 400 and bad.json()["error"].startswith("bad filter days:")


def test_review_queue_lists_flagged_and_hidden_but_never_the_text(console_server, users, clients):
    alice, bob = add_user(), add_user()
    flagged = add_judged_message(alice, bob, "flagged", ["contact_info"], SECRET)
    hidden = add_judged_message(bob, alice, "hidden", ["harassment", "threat"], "go away " * 3)
    clean = add_judged_message(alice, bob, "clean", [], "see you at six")
    client, _ = clients(console_server.url, "vera")
    reply = client.get("/moderation")
    assert reply.status_code == 200
    html = reply.text
    assert str(flagged) in html and str(hidden) in html and str(clean) not in html
    assert "contact_info" in html and "harassment, threat" in html and str(alice) in html
    assert SECRET not in html and "go away" not in html and "see you at six" not in html
    body = _json(console_server.url, "/moderation")
    assert body["counts"] == {"flagged": 1, "hidden": 1, "held": 0}
    assert [(m["message_id"], m["decision"], m["sender_id"]) for m in body["queue"]] == [
        (str(hidden), "hidden", str(bob)),
        (str(flagged), "flagged", str(alice)),
    ]
    assert body["queue"][1]["categories"] == ["contact_info"]
    assert SECRET not in str(body) and "go away" not in str(body)


def test_review_queue_pages_through_a_backlog_newest_first(console_server, users, clients):
    # More than a page, judged three at a time: a page ends inside a run of equal times.
    judged = add_review_backlog(REVIEW_PAGE_SIZE + 7)
    newest_first = [str(m) for _, m in sorted(judged, reverse=True)]
    first = _json(console_server.url, "/moderation")
    assert len(first["queue"]) == REVIEW_PAGE_SIZE and first["next"]
    last = _json(console_server.url, f"/moderation?after={quote(first['next'])}")
    assert last["next"] is None
    paged = [m["message_id"] for m in first["queue"] + last["queue"]]
    assert paged == newest_first  # each message once, none skipped, in order
    expected = {"flagged": REVIEW_PAGE_SIZE + 7, "hidden": 0, "held": 0}
    assert first["counts"] == last["counts"] == expected

    # In the browser's HTML: the Next link leads to the rest, and the last page has none.
    client, _ = clients(console_server.url, "vera")
    html = client.get("/moderation").text
    link = re.search(r'<a href="([^"]+)" id="next"', html)
    assert link is not None and newest_first[REVIEW_PAGE_SIZE] not in html
    rest = client.get(link[1].replace("&amp;", "&"))
    assert rest.status_code == 200
    assert all(m in rest.text for m in newest_first[REVIEW_PAGE_SIZE:])
    assert newest_first[REVIEW_PAGE_SIZE - 1] not in rest.text and 'id="next"' not in rest.text

    for bad in ("garbage", "2026-01-01T00:00:00Z~not-a-uuid"):
        reply = httpx.get(
            f"{console_server.url}/moderation?after={quote(bad)}&format=json", auth=basic("vera")
        )
        assert reply.status_code == 400 and reply.json()["error"].startswith("bad filter after:")


def test_reveal_needs_an_operator_a_reason_and_the_csrf_token_and_is_audited(
    console_server, users, clients
):
    alice, bob = add_user(), add_user()
    flagged = add_judged_message(alice, bob, "flagged", ["contact_info"], SECRET)
    clean = add_judged_message(alice, bob, "clean", [], "see you at six")
    url = f"/moderation/{flagged}/reveal"

    viewer, viewer_csrf = clients(console_server.url, "vera")
    refused = viewer.post(url, data={"csrf": viewer_csrf, "reason": "curious"})
    assert refused.status_code == 403 and SECRET not in refused.text
    assert audit_rows() == [("vera", "moderation_reveal", "curious", "refused: viewer")]

    operator, csrf = clients(console_server.url, "otto")
    for form in ({"reason": "report 42"}, {"reason": "report 42", "csrf": "forged"}):
        reply = operator.post(url, data=form)
        assert reply.status_code == 403 and "CSRF" in reply.text and SECRET not in reply.text
    no_reason = operator.post(url, data={"csrf": csrf, "reason": "  "})
    assert no_reason.status_code == 400 and SECRET not in no_reason.text
    not_queued = operator.post(f"/moderation/{clean}/reveal", data={"csrf": csrf, "reason": "x"})
    assert not_queued.status_code == 404 and "see you at six" not in not_queued.text
    assert len(audit_rows()) == 2  # the viewer's refusal and the refused not-queued reveal

    shown = operator.post(url, data={"csrf": csrf, "reason": "user report 42"})
    assert shown.status_code == 200
    content = re.search(r'<blockquote id="content">(.*?)</blockquote>', shown.text, re.S)
    assert content is not None and content[1] == SECRET
    assert audit_rows()[-1] == ("otto", "moderation_reveal", "user report 42", "revealed")
    with_target = httpx.get(f"{console_server.url}/audit?format=json", auth=basic("vera")).json()[
        "audit"
    ][0]
    assert (with_target["target"], with_target["user"]) == (str(flagged), "otto")
    assert SECRET not in str(with_target)
    # Revealing does not put the text on the queue page or in its JSON.
    assert SECRET not in operator.get("/moderation").text
    assert SECRET not in str(_json(console_server.url, "/moderation"))
    # Scripts reveal with Basic credentials (no cookie, so no CSRF) and get JSON.
    scripted = httpx.post(
        f"{console_server.url}{url}", data={"reason": "export for the report"}, auth=basic("otto")
    )
    assert scripted.status_code == 200 and scripted.json()["content"] == SECRET
    assert audit_rows()[-1] == ("otto", "moderation_reveal", "export for the report", "revealed")


def test_push_deliveries_by_state_and_receipt_error(console_server, users, clients):
    user = add_user()
    for _ in range(3):
        add_delivery(user, "sent")
    add_delivery(user, "sent", receipt_error="DeviceNotRegistered")
    add_delivery(user, "sent", receipt_error="DeviceNotRegistered")
    add_delivery(user, "sent", receipt_error="MessageRateExceeded")
    add_delivery(user, "failed", error="InvalidCredentials")
    add_delivery(user, "carried", error="retries exhausted")
    add_delivery(user, "failed", error="DeviceNotRegistered", hours_ago=72)  # outside 24 h
    client, _ = clients(console_server.url, "vera")
    html = client.get("/deliveries").text
    assert 'id="state-sent">6<' in html and 'id="state-failed">1<' in html
    assert "DeviceNotRegistered" in html and "MessageRateExceeded" in html
    body = _json(console_server.url, "/deliveries")
    assert body["states"] == {"sending": 0, "sent": 6, "failed": 1, "carried": 1, "unknown": 0}
    assert body["total"] == 8
    assert body["receipt_errors"] == [
        {"error": "DeviceNotRegistered", "count": 2},
        {"error": "MessageRateExceeded", "count": 1},
    ]
    assert {e["error"] for e in body["ticket_errors"]} == {
        "InvalidCredentials",
        "retries exhausted",
    }
    week = _json(console_server.url, "/deliveries?since=7d")
    assert week["states"]["failed"] == 2 and week["total"] == 9
    bad = httpx.get(f"{console_server.url}/deliveries?since=yesterday", auth=basic("vera"))
    assert bad.status_code == 400 and bad.json()["error"].startswith("bad filter since:")


def _seed_metrics() -> None:
    today = utc_now().date()
    for back in range(35):
        day = today - timedelta(days=back)
        add_metric(day, "dau", 100 + back)
        add_metric(day, "dau", 7, dimension="timezone=Europe/Paris")  # a breakdown: not charted
        add_metric(day, "signups", back % 5)
        add_metric(day, "messages_sent", 40)
        add_metric(day, "flagged_rate", None if back == 3 else 0.01 * (back % 4))
        add_metric(day, "notifications_sent", 30)


def test_daily_metrics_as_inline_svg_charts(console_server, users, clients):
    _seed_metrics()
    today = utc_now().date()
    client, _ = clients(console_server.url, "vera")
    html = client.get("/metrics").text
    dau = re.search(r'<figure class="chart" id="chart-dau">(.*?)</figure>', html, re.S)
    assert dau is not None and dau[1].count('<rect class="bar"') == 30
    assert '<strong class="latest">100</strong>' in dau[1]
    assert "<script" not in html.split("</head>")[1] and "http" not in html.split("<main")[1]
    offers = re.search(r'id="chart-offers_generated">(.*?)</figure>', html, re.S)
    assert offers is not None and "<rect" not in offers[1]  # no rows: nothing drawn
    body = _json(console_server.url, "/metrics")
    charts = {c["metric"]: c for c in body["charts"]}
    assert set(charts) >= {"dau", "signups", "offers_generated", "messages_sent"}
    assert {"flagged_rate", "notifications_sent"} <= set(charts)
    assert len(charts["dau"]["series"]) == 30
    assert charts["dau"]["series"][-1] == {"day": today.isoformat(), "value": 100.0}
    assert charts["dau"]["series"][0]["value"] == 129.0
    rate = charts["flagged_rate"]
    assert rate["chart"]["missing_days"] == [(today - timedelta(days=3)).isoformat()]
    # The missing day breaks the line in two: 26 days after it, 3 before.
    assert [len(s.split()) for s in rate["chart"]["segments"]] == [26, 3]
    assert html.count('<polyline class="line"') == 2


def test_metrics_page_in_dark_mode(console_server, browser, users):
    _seed_metrics()
    log_in(browser, console_server.url, "vera")
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    try:
        browser.get(f"{console_server.url}/metrics")
        bars = browser.find_elements(By.CSS_SELECTOR, "#chart-dau rect.bar")
        assert len(bars) == 30
        fill = browser.execute_script("return getComputedStyle(arguments[0]).fill", bars[0])
        assert fill == "rgb(122, 167, 255)"  # the dark theme's accent
        background = browser.execute_script(
            "return getComputedStyle(document.body).backgroundColor"
        )
        assert background == "rgb(18, 21, 26)"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / "console-metrics-dark.png"
        browser.save_screenshot(str(target))
        assert target.stat().st_size > 10_000
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def test_an_operator_overturns_a_verdict_once_through_the_review_module(
    console_server, users, clients
):
    alice, bob = add_user(), add_user()
    flagged = add_judged_message(alice, bob, "flagged", ["contact_info"], SECRET)
    with db.session_scope() as session:  # as the moderation job leaves a flagged message
        session.execute(
            update(Message).where(Message.id == flagged).values(moderation_status="flagged")
        )
    url = f"/moderation/{flagged}/decide"

    viewer, viewer_csrf = clients(console_server.url, "vera")
    refused = viewer.post(url, data={"csrf": viewer_csrf, "reason": "x", "action": "overturn"})
    assert refused.status_code == 403
    operator, csrf = clients(console_server.url, "otto")
    bad = operator.post(url, data={"csrf": csrf, "reason": "x", "action": "delete"})
    assert bad.status_code == 400 and "uphold or overturn" in bad.text

    done = operator.post(
        url, data={"csrf": csrf, "reason": "a gym's number", "action": "overturn", "format": "json"}
    )
    assert done.status_code == 200
    again = operator.post(url, data={"csrf": csrf, "reason": "twice", "action": "overturn"})
    assert again.status_code == 200
    outcomes = [row[3] for row in audit_rows() if row[1] == "moderation_review"]
    assert outcomes == [
        "refused: viewer",
        "refused: action must be uphold or overturn, not 'delete'",
        "overturned",
        "already overturned",
    ]
    assert done.json()["effects"]["restored"] is True
    with db.session_scope() as session:
        assert session.get(Message, flagged).moderation_status == "clean"
    queued = {m["message_id"]: m for m in _json(console_server.url, "/moderation")["queue"]}
    assert queued[str(flagged)]["review"] == "overturned"
    assert SECRET not in operator.get("/moderation").text


def test_a_verdict_held_for_review_shows_as_held_and_an_uphold_suspends_once(
    console_server, users, clients
):
    alice, bob = add_user(), add_user()
    held = add_held_verdict(alice, bob, SECRET)
    body = _json(console_server.url, "/moderation")
    assert body["counts"] == {"flagged": 0, "hidden": 1, "held": 1}
    assert [(m["message_id"], m["decision"], m["held"]) for m in body["queue"]] == [
        (str(held), "hidden", True)
    ]
    operator, csrf = clients(console_server.url, "otto")
    html = operator.get("/moderation").text
    assert 'hidden<span class="held">, held for review</span>' in html
    assert "1 of them held for review and not yet decided" in html

    url = f"/moderation/{held}/decide"
    done = operator.post(
        url, data={"csrf": csrf, "reason": "a real threat", "action": "uphold", "format": "json"}
    )
    assert done.status_code == 200
    assert done.json()["effects"] == {"notified": True, "strike_confirmed": True, "suspended": True}
    again = operator.post(url, data={"csrf": csrf, "reason": "twice", "action": "uphold"})
    assert again.status_code == 200
    outcomes = [row[3] for row in audit_rows() if row[1] == "moderation_review"]
    assert outcomes == ["upheld", "already upheld"]
    with db.session_scope() as session:
        assert session.get(User, alice).status == "suspended"
    body = _json(console_server.url, "/moderation")
    assert body["counts"]["held"] == 0 and body["queue"][0]["review"] == "upheld"
    assert SECRET not in operator.get("/moderation").text
