"""`yoked dev` on local defaults (no DATABASE_URL, no RABBITMQ_URL), as a newcomer runs it.

- ``--once`` shows every job doing work at any hour of the day (the clock set with ``--now``),
  and leaves no process running; ``--keep-db`` leaves the database, ``yoked dev stop`` stops it.
- the long-running mode serves the console when it is installed (else says so) and Ctrl-C
  stops everything it started.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

YOKED = [sys.executable, "-m", "yoked_actors", "dev"]


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory to run `yoked dev` in, open to the server's user when the tests run as root
    (pytest's own temporary directories are closed to other users, and re-closed by every
    pytest session that starts)."""
    path = Path(tempfile.mkdtemp(prefix="yoked-dev-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        _run(path, "stop")
        shutil.rmtree(path, ignore_errors=True)


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "RABBITMQ_URL", "PUSH_PROVIDER", "EXPO_PUSH_URL")
    }
    env["METRICS_PORT"] = "0"
    return env


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*YOKED, *args], env=_env(), cwd=cwd, capture_output=True, text=True, timeout=600
    )


def _postgres_processes(cwd: Path) -> list[str]:
    """Command lines of running processes that serve the data directory under ``cwd``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(cwd / ".yoked") in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def _row(stdout: str, job: str) -> dict[str, int]:
    """The counts in ``job``'s summary row: "offers_written=181, ..." -> {...}."""
    table = stdout.split("work done", 1)[1]
    line = next(row for row in table.splitlines() if row.startswith(job + " "))
    assert " succeeded " in line, line
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def _assert_demonstration(stdout: str) -> None:
    """What a newcomer checks: offers written, messages moderated, pushes shown, analytics."""
    assert "DEVELOPMENT MODE" in stdout
    assert "demo shift of the 09:00 window" in stdout
    assert _row(stdout, "matching.dispatch_daily")["dispatched"] == 5
    assert _row(stdout, "matching.generate_daily")["offers_written"] > 0
    moderation = _row(stdout, "moderation.moderate_message")
    assert moderation["recorded"] == 20
    assert moderation["clean"] > 0 and moderation["flagged"] > 0 and moderation["hidden"] > 0
    assert moderation["strikes"] > 0 and moderation["suspended"] > 0
    pushes = _row(stdout, "notifications.send_batches")
    assert pushes["sent"] > 0
    shown = re.search(r"pushes received by the local sink: (\d+)", stdout)
    assert shown and int(shown.group(1)) == pushes["sent"]
    assert re.search(r'device \d+: "[^"]+" - .+ -> yoked://\S+', stdout)
    assert "ExponentPushToken" not in stdout  # a phone's token is never printed
    assert _row(stdout, "analytics.aggregate_daily")["metrics"] > 0
    for job in ("system.ping", "matching.expire_offers", "maintenance.prune_runs"):
        _row(stdout, job)


def test_dev_once_demonstrates_every_job_at_any_hour_and_stop_stops_the_database(
    workdir: Path,
) -> None:
    today = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    # Night, morning, afternoon and evening in UTC: each demo timezone at other hours each time.
    hours = [today.replace(hour=h) + timedelta(minutes=m) for h, m in ((1, 10), (8, 40), (16, 5))]
    for number, now in enumerate(hours):
        result = _run(workdir, "--once", "--keep-db", "--now", now.isoformat())
        assert result.returncode == 0, result.stdout + result.stderr
        _assert_demonstration(result.stdout)
        assert now.isoformat(timespec="seconds") in result.stdout
        if number == 0:
            assert "started; left running (`yoked dev stop` stops it)" in result.stdout
        else:
            assert "already running, reused and left running" in result.stdout
        assert _postgres_processes(workdir), "--keep-db left the database running"
    stopped = _run(workdir, "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout, stopped.stderr
    assert _postgres_processes(workdir) == []
    assert "not running" in _run(workdir, "stop").stdout


def test_dev_once_leaves_nothing_running(workdir: Path) -> None:
    now = datetime.now(UTC).replace(hour=21, minute=50)
    result = _run(workdir, "--once", "--now", now.isoformat())
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_demonstration(result.stdout)
    assert "PostgreSQL 15 on 127.0.0.1" in result.stdout
    assert "stopped when this exits" in result.stdout
    assert "PostgreSQL stopped" in result.stdout
    assert _postgres_processes(workdir) == []
    assert (workdir / ".yoked" / "pgdata" / "PG_VERSION").read_text().strip() == "15"


def _serve(workdir: Path, ready: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Start `yoked dev` and read its output until ``ready`` is printed."""
    process = subprocess.Popen(
        YOKED,
        env={**_env(), "PYTHONUNBUFFERED": "1"},
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if ready in line:
            return process, lines
    process.kill()
    raise AssertionError("yoked dev did not start:\n" + "".join(lines))


def _interrupt(process: subprocess.Popen[str], lines: list[str]) -> str:
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    return "".join(lines) + out


def test_dev_serves_the_console_with_a_local_operator_account(workdir: Path) -> None:
    process, lines = _serve(workdir, "Ctrl-C stops everything")
    console = next(line for line in lines if "console: http://" in line)
    url = re.search(r"(http://127\.0\.0\.1:\d+/)", console)
    account = re.search(r"operator account: (\S+) / (\S+)\)", console)
    assert url and account, console
    page = httpx.get(url.group(1), follow_redirects=True, timeout=10)
    assert page.status_code == 200
    output = _interrupt(process, lines)
    assert process.returncode == 0, output
    assert _postgres_processes(workdir) == []
