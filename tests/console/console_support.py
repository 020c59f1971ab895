"""Runs and users the console tests start from."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import func, select

from tests.console.conftest import PASSWORD
from yoked_actors import db
from yoked_actors.models.console import ConsoleAudit
from yoked_actors.models.runs import IdempotencyKey, JobRun
from yoked_actors.models.system import Ping


def add_run(
    *,
    status: str = "dead",
    actor: str = "system.ping",
    note: str = "see you at the gym, Ana",
    key: str | None = None,
    payload: bool = True,
    minutes_ago: int = 5,
    **extra: Any,
) -> str:
    message_id = str(uuid.uuid4())
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    with db.session_scope() as session:
        session.add(
            JobRun(
                message_id=message_id,
                actor=actor,
                queue="maintenance",
                status=status,
                attempts=3,
                enqueued_at=at,
                started_at=at,
                finished_at=at,
                duration_ms=12,
                error_type="TransientError" if status in ("failed", "dead") else None,
                error_message="database went away" if status in ("failed", "dead") else None,
                idempotency_key=key,
                updated_at=at,
                payload={"args": [], "kwargs": {"note": note}} if payload else None,
                **extra,
            )
        )
    return message_id


def mark_key_done(key: str) -> None:
    with db.session_scope() as session:
        session.add(IdempotencyKey(key=key, actor="system.ping", message_id="earlier"))


def count(model: Any, *where: Any) -> int:
    with db.session_scope() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def pings(note: str) -> int:
    return count(Ping, Ping.note == note)


def audit_rows() -> list[tuple[str, str, str, str]]:
    with db.session_scope() as session:
        rows = session.scalars(select(ConsoleAudit).order_by(ConsoleAudit.id)).all()
        return [(a.user_name, a.action, a.reason, a.outcome) for a in rows]


def log_in(browser: WebDriver, base: str, name: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{base}/login")
    browser.find_element(By.ID, "name").send_keys(name)
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "login").click()
    assert browser.find_element(By.CSS_SELECTOR, ".who").text.startswith(name)


#: Where the browser tests save their screenshots: a git-ignored folder, so a test run leaves
#: the tree clean; with YOKED_UPDATE_SCREENSHOTS=1 they refresh the ones docs/ shows.
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "img"
    if os.environ.get("YOKED_UPDATE_SCREENSHOTS") == "1"
    else Path(__file__).resolve().parents[2] / ".yoked" / "screenshots"
)
