"""Bad input gets a clear answer and changes nothing; scripts use HTTP Basic and JSON."""

from __future__ import annotations

import re
from urllib.parse import quote

import httpx
import pytest

from tests.common_support import wait_until
from tests.console.conftest import PASSWORD, basic
from tests.console.console_support import add_run, audit_rows, count
from yoked_actors.console.app import PAGE_SIZE
from yoked_actors.models.runs import JobRun

OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while OPEN:
        OPEN.pop().close()


def _session(base: str, name: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=base, follow_redirects=False)
    OPEN.append(client)
    page = client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', page.text)[1]
    reply = client.post("/login", data={"name": name, "password": PASSWORD, "login_csrf": token})
    assert reply.status_code == 303
    runs = client.get("/runs")
    csrf = re.search(r'name="csrf" value="([^"]+)"', runs.text)[1]
    return client, csrf


def test_forged_or_missing_csrf_is_403_and_changes_nothing(console_server, users, rabbitmq_broker):
    dead = add_run(status="dead")
    client, csrf = _session(console_server.url, "otto")
    for form in ({"reason": "x"}, {"reason": "x", "csrf": "forged" + csrf[6:]}):
        reply = client.post(f"/runs/{dead}/replay", data=form)
        assert reply.status_code == 403 and "CSRF" in reply.text
    assert count(JobRun, JobRun.replay_of == dead) == 0
    assert audit_rows() == []
    # The login form is protected too.
    assert httpx.post(f"{console_server.url}/login", data={"name": "otto"}).status_code == 403


def test_unknown_run_is_404(console_server, users):
    client, csrf = _session(console_server.url, "otto")
    assert client.get("/runs/no-such-run").status_code == 404
    reply = client.post("/runs/no-such-run/replay", data={"reason": "x", "csrf": csrf})
    assert reply.status_code == 404 and "no-such-run" in reply.text


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("status=bogus", "status"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("actor=x%27%20OR%201%3D1", "actor"),
        ("queue=a%3Bdrop", "queue"),
        ("error_type=%25", "error_type"),
        ("after=garbage", "after"),
    ],
)
def test_malformed_filters_are_400_naming_the_filter(console_server, users, query, named):
    reply = httpx.get(f"{console_server.url}/runs?{query}&format=json", auth=basic("vera"))
    assert reply.status_code == 400
    assert reply.json()["error"].startswith(f"bad filter {named}:")


INJECTIONS = ["' OR '1'='1", "%", "_", "\\", "x'); DELETE FROM job_runs; --", "') OR true --"]


@pytest.mark.parametrize("name", ["error", "idempotency_key", "schedule_fire", "replay_of"])
def test_injection_attempts_in_text_filters_match_nothing_and_change_nothing(
    console_server, users, name
):
    for _ in range(3):
        add_run(status="dead")
    for attempt in INJECTIONS:
        reply = httpx.get(
            f"{console_server.url}/runs",
            params={name: attempt, "format": "json"},
            auth=basic("vera"),
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["runs"] == []
    assert count(JobRun) == 3


def test_scripts_use_basic_auth_and_json(console_server, users, rabbitmq_broker):
    dead = add_run(status="dead")
    listed = httpx.get(f"{console_server.url}/runs?status=dead", auth=basic("vera")).json()
    assert [r["message_id"] for r in listed["runs"]] == [dead]
    assert listed["runs"][0]["updated_at"].endswith("Z")
    overview = httpx.get(f"{console_server.url}/?format=json", auth=basic("vera")).json()
    assert {"queues", "actors", "outbox", "schedules", "last_ping", "stuck"} <= set(overview)
    no_reason = httpx.post(f"{console_server.url}/runs/{dead}/replay", auth=basic("otto"))
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]
    done = httpx.post(
        f"{console_server.url}/runs/{dead}/replay", data={"reason": "script"}, auth=basic("otto")
    )
    assert done.status_code == 200 and done.json()["new_message_id"]
    wait_until(lambda: count(JobRun, JobRun.replay_of == dead) == 1, what="the replay's run row")
    anonymous = httpx.get(f"{console_server.url}/runs?format=json")
    assert anonymous.status_code == 401 and "www-authenticate" not in anonymous.headers


def test_runs_page_through_every_match_once_newest_first(console_server, users):
    made = [add_run(status="dead", minutes_ago=m) for m in range(PAGE_SIZE + 3)]
    other = add_run(status="succeeded")  # filtered out on every page
    pages, after = [], ""
    while True:
        query = f"status=dead{after}&format=json"
        page = httpx.get(f"{console_server.url}/runs?{query}", auth=basic("vera")).json()
        pages.append([r["message_id"] for r in page["runs"]])
        if page["next"] is None:
            break
        assert page["filters"] == {"status": "dead"}  # the next page keeps the filters
        after = f"&after={quote(page['next'])}"
    listed = [message_id for p in pages for message_id in p]
    assert [len(p) for p in pages] == [PAGE_SIZE, 3]
    assert listed == made  # made 0, 1, 2 ... minutes ago: newest first already
    assert other not in listed


def test_login_attempts_are_rate_limited(console_server, users):
    wrong = httpx.BasicAuth("otto", "not the password")
    codes = [httpx.get(f"{console_server.url}/runs", auth=wrong).status_code for _ in range(6)]
    assert codes == [401] * 6
    # The right password is refused too while the limit holds (429 on the form).
    assert httpx.get(f"{console_server.url}/runs", auth=basic("otto")).status_code == 401
    client = httpx.Client(base_url=console_server.url)
    OPEN.append(client)
    token = re.search(r'name="login_csrf" value="([^"]+)"', client.get("/login").text)[1]
    reply = client.post("/login", data={"name": "otto", "password": PASSWORD, "login_csrf": token})
    assert reply.status_code == 429


def test_pages_run_in_read_only_transactions(console_server, users):
    from yoked_actors import db
    from yoked_actors.console import store

    with pytest.raises(Exception, match="read-only transaction"), db.session_scope() as session:
        store.read_only(session, timeout_ms=1000)
        store.audit(session, user="x", action="y", target="z", reason="r", outcome="o")
        session.flush()
