"""The console in a real headless Chromium against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

from datetime import timedelta

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from sqlalchemy import select

from tests.common_support import wait_until
from tests.console.console_support import (
    SCREENSHOTS,
    add_run,
    audit_rows,
    count,
    log_in,
    mark_key_done,
    pings,
)
from yoked_actors import db
from yoked_actors.clock import utc_now
from yoked_actors.models.runs import JobRun
from yoked_actors.models.scheduling import ScheduleFire
from yoked_actors.scheduling.scheduler import Scheduler
from yoked_actors.scheduling.table import all_schedules


def test_operator_filters_opens_and_replays_a_run(console_server, browser, users, worker):
    dead = add_run(status="dead", note="replay me")
    add_run(status="succeeded", note="fine")
    log_in(browser, console_server.url, "otto")
    browser.get(f"{console_server.url}/runs")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")) == 2
    browser.find_element(By.CSS_SELECTOR, "#f-status option[value=dead]").click()
    browser.find_element(By.ID, "apply").click()
    WebDriverWait(browser, 10).until(expected_conditions.url_contains("status=dead"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    assert len(rows) == 1 and "dead" in rows[0].text
    rows[0].find_element(By.TAG_NAME, "a").click()
    assert browser.find_element(By.ID, "run-status").text == "dead"
    assert "[redacted]" in browser.find_element(By.ID, "payload").text
    assert "replay me" not in browser.page_source  # the note is personal text
    browser.find_element(By.ID, "reason").send_keys("database was down at 03:00")
    browser.find_element(By.ID, "replay").click()
    assert "replayed as" in browser.find_element(By.ID, "outcome").text
    wait_until(lambda: pings("replay me") == 1, what="the replayed ping ran")
    wait_until(lambda: count(JobRun, JobRun.replay_of == dead) == 1, what="the replay's run row")
    assert audit_rows()[-1][:3] == ("otto", "replay", "database was down at 03:00")
    browser.get(f"{console_server.url}/runs/{dead}")
    assert browser.find_elements(By.CSS_SELECTOR, "a.replay")


def test_a_viewer_reads_but_is_refused_an_action(console_server, browser, users, rabbitmq_broker):
    dead = add_run(status="dead", note="viewer")
    log_in(browser, console_server.url, "vera")
    browser.get(f"{console_server.url}/runs/{dead}")
    button = browser.find_element(By.ID, "replay")
    assert not button.is_enabled()
    browser.execute_script("arguments[0].disabled = false", button)  # what a curious viewer does
    browser.find_element(By.ID, "reason").send_keys("just trying")
    button.click()
    assert "only operators" in browser.find_element(By.ID, "problem").text
    assert count(JobRun, JobRun.replay_of == dead) == 0
    assert audit_rows() == [("vera", "replay", "just trying", "refused: viewer")]


def test_bulk_replay_previews_then_needs_the_typed_confirmation(
    console_server, browser, users, worker
):
    for _ in range(3):
        add_run(status="dead", note="bulk")
    add_run(status="dead", note="bulk-done", key="k-done")
    mark_key_done("k-done")
    add_run(status="dead", note="no payload", payload=False)
    log_in(browser, console_server.url, "otto")
    browser.get(f"{console_server.url}/runs?status=dead")
    browser.find_element(By.ID, "bulk-link").click()
    preview = browser.find_element(By.ID, "preview").text
    assert "5 runs match" in preview and "1 skipped" in preview and "1 cannot" in preview
    assert browser.find_element(By.ID, "would").text == "3"
    browser.find_element(By.ID, "reason").send_keys("broker outage")
    browser.find_element(By.ID, "confirm").send_keys("replay 30")  # a typo: refused
    browser.find_element(By.ID, "go").click()
    assert "type 'replay 3'" in browser.find_element(By.ID, "problem").text
    assert count(JobRun, JobRun.replay_of.is_not(None)) == 0
    browser.back()
    browser.find_element(By.ID, "confirm").clear()
    browser.find_element(By.ID, "confirm").send_keys("replay 3")
    browser.find_element(By.ID, "go").click()
    assert "3 replayed, 0 not replayed" in browser.find_element(By.ID, "finished").text
    assert "chunk 1/1" in browser.find_element(By.ID, "progress").text
    wait_until(lambda: pings("bulk") == 3, what="three replayed pings ran")
    assert pings("bulk-done") == 0 and pings("no payload") == 0


def test_pausing_a_schedule_makes_the_scheduler_record_paused_fires(
    console_server, browser, users, rabbitmq_broker
):
    log_in(browser, console_server.url, "otto")
    browser.get(f"{console_server.url}/schedules")
    section = browser.find_element(By.ID, "s-expire-offers")
    section.find_element(By.CSS_SELECTOR, "form input[name=reason]").send_keys("migration")
    section.find_element(By.CSS_SELECTOR, "button.pause").click()
    assert "paused" in browser.find_element(By.ID, "outcome").text
    browser.get(f"{console_server.url}/schedules")
    assert "Paused by otto" in browser.find_element(By.ID, "s-expire-offers").text
    schedule = next(s for s in all_schedules() if s.name == "expire-offers")
    now = utc_now().replace(minute=0, second=5, microsecond=0)
    Scheduler([schedule], clock=lambda: now).tick(now)
    with db.session_scope() as session:
        fire = session.scalars(select(ScheduleFire)).one()
        assert (fire.status, fire.detail) == ("paused", "schedule paused")
    assert now - fire.due_at < timedelta(minutes=1)


def test_light_and_dark_screenshots(console_server, browser, users):
    add_run(status="dead", note="shot")
    add_run(status="succeeded", note="shot", minutes_ago=2)
    add_run(status="failed", note="shot", minutes_ago=1, actor="matching.expire_offers")
    log_in(browser, console_server.url, "otto")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for scheme in ("light", "dark"):
        browser.execute_cdp_cmd(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
        )
        for name, path in (("overview", "/"), ("runs", "/runs")):
            browser.get(console_server.url + path)
            target = SCREENSHOTS / f"console-{name}-{scheme}.png"
            browser.save_screenshot(str(target))
            assert target.stat().st_size > 10_000
        background = browser.execute_script(
            "return getComputedStyle(document.body).backgroundColor"
        )
        assert background == ("rgb(255, 255, 255)" if scheme == "light" else "rgb(18, 21, 26)")
