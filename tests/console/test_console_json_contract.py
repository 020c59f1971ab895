"""Scripts may read the console or the CLI: a page's ``?format=json`` holds the same records, in
the same shape, as the matching command's ``--json`` (one query layer, one JSON encoding)."""

from __future__ import annotations

import json
import subprocess

import httpx

from tests.console.conftest import basic
from tests.console.console_support import add_run


def _cli(env: dict[str, str], *args: str) -> object:
    done = subprocess.run(
        [".venv/bin/yoked", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _page(base: str, path: str) -> dict:
    reply = httpx.get(f"{base}{path}", params={"format": "json"}, auth=basic("vera"))
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_runs_list_and_a_run_match_yoked_runs_json(console_server, users, service_env):
    dead = add_run(status="dead", note="parity")
    add_run(status="succeeded", note="parity", minutes_ago=2)
    cli_rows = _cli(service_env, "runs", "--json")
    page_rows = _page(console_server.url, "/runs")["runs"]
    assert [r["message_id"] for r in page_rows] == [r["message_id"] for r in cli_rows]
    for page_row, cli_row in zip(page_rows, cli_rows, strict=True):
        assert {k: v for k, v in page_row.items() if k in cli_row} == cli_row
        assert page_row["started_at"] is None or page_row["started_at"].endswith("Z")

    cli_run = _cli(service_env, "runs", "show", dead, "--json")
    page_run = _page(console_server.url, f"/runs/{dead}")["run"]
    assert page_run == cli_run
    assert "parity" not in json.dumps(page_run)  # the note is personal text: redacted in both
