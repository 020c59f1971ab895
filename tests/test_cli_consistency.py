"""One consistent `yoked` CLI: --payload for input, --json for output, one --since/--until
syntax, RFC 3339 Z timestamps, exit 0 / 1 (failure or not found) / 2 (bad input), unreachable
servers in one line, bulk replay behind a confirmation, and the queues / outbox / db commands.
Run as a user runs them (subprocesses) against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
from typing import Any

from sqlalchemy import text

from yoked_actors import db

YOKED = [sys.executable, "-m", "yoked_actors"]
Z_STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def yoked(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*YOKED, *args],
        env=env or {**os.environ, "YOKED_ENV": "test"},
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


def _stamps(value: Any) -> list[str]:
    """Every string value of ``value`` that looks like a time (has a date and a T)."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in _stamps(v)]
    if isinstance(value, list):
        return [s for v in value for s in _stamps(v)]
    if isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT", value):
        return [value]
    return []


def _insert_runs() -> None:
    with db.get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO job_runs (message_id, actor, queue, status, payload, updated_at, "
                "enqueued_at) VALUES "
                "('run-a1', 'system.ping', 'q', 'dead', CAST(:p AS jsonb), now(), now()), "
                "('run-a2', 'system.ping', 'q', 'dead', CAST(:p AS jsonb), now(), now()), "
                "('run-b1', 'matching.expire_offers', 'q', 'succeeded', NULL, now(), now()),"
                " ('run-old', 'system.ping', 'q', 'dead', CAST(:p AS jsonb),"
                " now() - interval '3 days', now() - interval '3 days')"
            ).bindparams(p=json.dumps({"args": [], "kwargs": {"note": "again"}}))
        )


def test_read_commands_print_json_with_z_timestamps_and_apply_every_filter(
    clean_db: str, service_env: dict[str, str]
) -> None:
    _insert_runs()
    listed = yoked("runs", "--since", "2d", "--json", env=service_env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert {r["message_id"] for r in rows} == {"run-a1", "run-a2", "run-b1"}
    stamps = _stamps(rows) + _stamps(
        json.loads(yoked("runs", "show", "run-a1", "--json", env=service_env).stdout)
    )
    assert stamps and all(Z_STAMP.match(s) for s in stamps), stamps

    # The filter given before the subcommand is applied, not ignored.
    stats = json.loads(
        yoked(
            "runs", "--actor", "system.ping", "stats", "--since", "7d", "--json", env=service_env
        ).stdout
    )
    assert [(s["actor"], s["dead"]) for s in stats] == [("system.ping", 3)]
    until = json.loads(
        yoked("runs", "stats", "--since", "7d", "--until", "1d", "--json", env=service_env).stdout
    )
    assert [(s["actor"], s["runs"]) for s in until] == [("system.ping", 1)]
    refused = yoked("runs", "--actor", "system.ping", "show", "run-a1", env=service_env)
    assert refused.returncode == 2 and "--actor" in refused.stderr

    # One syntax for --since everywhere; a bad one names the option, exit 2.
    for command in (["runs"], ["runs", "stats"], ["schedules", "fires"], ["outbox", "list"]):
        bad = yoked(*command, "--since", "yesterday", env=service_env)
        assert bad.returncode == 2, (command, bad.stderr)
        assert "--since 'yesterday' is not a duration or a time" in bad.stderr
        assert "Traceback" not in bad.stderr
        assert yoked(*command, "--since", "15m", env=service_env).returncode == 0, command

    missing = yoked("runs", "show", "no-such-run", env=service_env)
    assert missing.returncode == 1 and "no run has the message id" in missing.stderr


def test_bulk_replay_refuses_without_a_terminal_then_replays_with_progress(
    clean_db: str, service_env: dict[str, str]
) -> None:
    _insert_runs()
    refused = yoked("runs", "replay", "--status", "dead", "--since", "1d", env=service_env)
    assert refused.returncode == 2
    assert "this would replay 2 runs; no terminal to confirm on: add --yes" in refused.stderr
    with db.get_engine().connect() as connection:
        count = connection.execute(
            text("SELECT count(*) FROM job_runs WHERE replay_of IS NOT NULL")
        ).scalar_one()
    assert count == 0  # nothing was replayed

    preview = yoked(
        "runs", "--status", "dead", "replay", "--since", "1d", "--dry-run", env=service_env
    )
    assert preview.returncode == 0, preview.stderr
    assert "0 replayed" in preview.stdout and preview.stdout.count("would replay") == 2

    done = yoked(
        "runs", "replay", "--status", "dead", "--since", "1d", "--yes", "--json", env=service_env
    )
    assert done.returncode == 0, done.stderr
    assert "replayed 2/2" in done.stderr
    results = json.loads(done.stdout)
    assert sorted(r["original"] for r in results) == ["run-a1", "run-a2"]
    assert all(r["new_message_id"] for r in results)
    with db.get_engine().connect() as connection:
        replays = connection.execute(
            text("SELECT replay_of FROM job_runs WHERE replay_of IS NOT NULL ORDER BY 1")
        ).scalars()
        assert list(replays) == ["run-a1", "run-a2"]  # what the "nothing replayed" checks read


def test_payload_option_and_the_deprecated_json_alias(service_env: dict[str, str]) -> None:
    sent = yoked("send", "system.ping", "--payload", '{"note": "cli test"}', env=service_env)
    assert sent.returncode == 0, sent.stderr
    assert sent.stderr == ""
    legacy = yoked("send", "system.ping", "--json", '{"note": "cli test"}', env=service_env)
    assert legacy.returncode == 0, legacy.stderr
    assert legacy.stderr.strip().splitlines() == [
        "warning: --json for a payload is deprecated; use --payload"
    ]
    bad = yoked("emit", "message.sent", "--payload", "{oops", env=service_env)
    assert bad.returncode == 2 and "--payload is not valid JSON" in bad.stderr
    assert yoked("emit", "message.sent", env=service_env).returncode == 2


def test_unreachable_database_and_broker_are_one_line_naming_them(
    service_env: dict[str, str],
) -> None:
    dead_db = {**service_env, "DATABASE_URL": "postgresql+psycopg://yoked@127.0.0.1:1/yoked"}
    for command in (["runs"], ["outbox", "status"], ["db", "current"]):
        result = yoked(*command, env=dead_db)
        assert result.returncode == 1, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert lines[0].startswith("Error: cannot reach the database at 127.0.0.1:1 (DATABASE_URL)")
    dead_broker = {**service_env, "RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:1/%2F"}
    for command in (["queues"], ["send", "system.ping"]):
        result = yoked(*command, env=dead_broker)
        assert result.returncode == 1, (command, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "cannot reach the broker at 127.0.0.1:1 (RABBITMQ_URL)" in lines[0]


def test_queues_lists_each_queue_with_its_dq_and_xq(service_env: dict[str, str]) -> None:
    sent = yoked("send", "system.ping", "--payload", '{"note": "depth"}', env=service_env)
    assert sent.returncode == 0, sent.stderr
    result = yoked("queues", "--json", env=service_env)
    assert result.returncode == 0, result.stderr
    depths = {q["name"]: q for q in json.loads(result.stdout)["queues"]}
    assert depths["maintenance"]["ready"] >= 1
    assert depths["maintenance"]["delayed_ready"] == 0
    assert depths["maintenance"]["dead_ready"] == 0
    table = yoked("queues", env=service_env).stdout.splitlines()
    assert table[0].split() == ["QUEUE", "READY", "UNACKED", "DQ_READY", "XQ_READY"]


def test_outbox_list_and_retry(clean_db: str, service_env: dict[str, str]) -> None:
    with db.get_engine().begin() as connection:
        connection.execute(
            text(
                "INSERT INTO outbox (actor, failed_at, attempts, last_error) VALUES "
                "('nope.nothing', now(), 3, 'unknown actor'), ('system.ping', NULL, 0, NULL)"
            )
        )
    failed = json.loads(
        yoked("outbox", "list", "--state", "failed", "--json", env=service_env).stdout
    )
    assert [(r["id"], r["state"], r["attempts"]) for r in failed] == [(1, "failed", 3)]
    assert all(Z_STAMP.match(s) for s in _stamps(failed))
    assert yoked("outbox", "retry", env=service_env).returncode == 2
    assert yoked("outbox", "retry", "2", env=service_env).returncode == 1  # not a failed row
    retried = yoked("outbox", "retry", "1", env=service_env)
    assert retried.returncode == 0 and "1 failed row made pending again" in retried.stdout
    pending = json.loads(
        yoked("outbox", "list", "--state", "pending", "--json", env=service_env).stdout
    )
    assert sorted(r["id"] for r in pending) == [1, 2]
    assert [r["attempts"] for r in pending if r["id"] == 1] == [0]


def test_db_current_and_check(service_env: dict[str, str], database_url: str) -> None:
    shown = yoked("db", "current", "--json", env=service_env)
    current = json.loads(shown.stdout)
    assert shown.returncode == 0, shown.stderr
    assert current["at_heads"] is True and set(current["current"]) <= set(current["heads"])
    assert yoked("db", "check", env=service_env).returncode == 0
    with db.get_engine().begin() as connection:
        versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        connection.execute(text("DELETE FROM alembic_version"))
    try:
        behind = yoked("db", "check", env=service_env)
        assert behind.returncode == 1 and "not at heads" in behind.stdout
    finally:
        with db.get_engine().begin() as connection:
            for (version,) in versions:
                connection.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": version})


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run ``yoked ARGS`` with stdout on a pseudo-terminal; what it printed."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([*YOKED, *args], env=env, stdout=follower, stderr=follower)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    process.wait(timeout=60)
    os.close(leader)
    return out.decode()


def test_colour_only_on_a_terminal_and_never_with_no_color(service_env: dict[str, str]) -> None:
    env = {k: v for k, v in service_env.items() if k != "NO_COLOR"}
    assert "\x1b[32m" in _on_a_terminal(["db", "check"], env)
    assert "\x1b[" not in _on_a_terminal(["db", "check"], {**env, "NO_COLOR": "1"})
    assert "\x1b[" not in yoked("db", "check", env=env).stdout


DOCS = (
    "README.md",
    "docs/reliability.md",
    "docs/analytics.md",
    "docs/matching.md",
    "docs/scheduling.md",
)


def _documented_lines() -> list[str]:
    """Every `yoked ...` command line in the docs this CLI's conventions touch (code blocks and
    inline code), with [optional] parts and comments dropped."""
    from pathlib import Path

    lines = []
    for doc in DOCS:
        body = Path(__file__).resolve().parents[1].joinpath(doc).read_text()
        for match in re.finditer(r"(?m)^(yoked [^\n#]*)|`(yoked [^`]*)`", body):
            line = (match[1] or match[2]).strip()
            # [--json] is kept as --json; [--since 2h|7d|ISO], [--until ...] are dropped.
            line = re.sub(r"\[([^\]|.]*)\]", r"\1", line)
            line = re.sub(r"\s*\[[^\]]*\]", "", line)
            if "|" in line or "..." in line or "JSON" in line or "ACTOR" in line:
                continue  # a synopsis of alternatives, not a command line
            lines.append(line)
    return lines


def test_documented_command_lines_parse_with_the_current_options() -> None:
    """Each documented command line (payload examples included) is accepted by the parser: an
    option renamed or removed fails here (exit 2 is click's usage error)."""
    import shlex

    from click.testing import CliRunner

    from yoked_actors.cli import main

    checked = 0
    for line in _documented_lines():
        args = shlex.split(line)[1:]
        result = CliRunner().invoke(main, [*args, "--help"])
        assert result.exit_code == 0, (line, result.output)
        checked += 1
    assert checked >= 10


def test_the_readme_canary_runs(service_env: dict[str, str]) -> None:
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1].joinpath("README.md").read_text()
    line = re.search(r"`(yoked send system\.ping --payload [^`]*)`", readme)
    assert line is not None
    import shlex

    result = yoked(*shlex.split(line[1])[1:], env=service_env)
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_queues_through_the_management_api(service_env: dict[str, str]) -> None:
    """With RABBITMQ_MANAGEMENT_URL, the counts (unacked included) come from its HTTP API (here
    a loopback server answering as the API does for the vhost of RABBITMQ_URL)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import quote

    vhost = service_env["RABBITMQ_URL"].rsplit("/", 1)[1]
    asked: list[str] = []

    class Api(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            body = json.dumps(
                [
                    {"name": "matching", "messages_ready": 7, "messages_unacknowledged": 2},
                    {"name": "matching.DQ", "messages_ready": 3, "messages_unacknowledged": 0},
                    {"name": "matching.XQ", "messages_ready": 1, "messages_unacknowledged": 0},
                ]
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {
            **service_env,
            "RABBITMQ_MANAGEMENT_URL": f"http://guest:guest@127.0.0.1:{server.server_port}",
        }
        result = yoked("queues", "--json", env=env)
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["source"] == "management"
    matching = next(q for q in shown["queues"] if q["name"] == "matching")
    assert (matching["ready"], matching["unacked"]) == (7, 2)
    assert (matching["delayed_ready"], matching["dead_ready"]) == (3, 1)
    assert asked and asked[0].startswith(f"/api/queues/{quote(vhost, safe='')}")

    down = yoked("queues", env={**env, "RABBITMQ_MANAGEMENT_URL": "http://127.0.0.1:1"})
    assert down.returncode == 1
    assert down.stderr.strip().splitlines() == [
        "Error: management API unavailable: ConnectError (RABBITMQ_MANAGEMENT_URL)"
    ]


def test_bulk_replay_asks_on_a_terminal(clean_db: str, service_env: dict[str, str]) -> None:
    _insert_runs()
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [*YOKED, "runs", "replay", "--status", "dead", "--since", "1d"],
        env=service_env,
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
    )
    os.close(follower)
    asked = b""
    while b"Replay 2 runs? [y/N]" not in asked:
        asked += os.read(leader, 1024)
    os.write(leader, b"n\n")
    out, _ = process.communicate(timeout=60)
    os.close(leader)
    assert process.returncode == 1 and out == ""  # Aborted: nothing replayed
    with db.get_engine().connect() as connection:
        assert (
            connection.execute(
                text("SELECT count(*) FROM job_runs WHERE replay_of IS NOT NULL")
            ).scalar_one()
            == 0
        )


def test_the_documented_run_examples_run(clean_db: str, service_env: dict[str, str]) -> None:
    """`yoked run ... --payload '...'` as docs/analytics.md and docs/matching.md show it."""
    import shlex
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found = []
    for doc in ("docs/analytics.md", "docs/matching.md"):
        body = root.joinpath(doc).read_text()
        found += [
            " ".join(m.split()) for m in re.findall(r"(yoked run [a-z_.]+ --payload '[^']*')", body)
        ]
    assert len(found) == 2, found
    for line in found:
        result = yoked(*shlex.split(line)[1:], env=service_env)
        assert result.returncode == 0, (line, result.stderr)
        assert result.stderr == "", result.stderr
        json.loads(result.stdout)  # the job's result, printed as JSON


def test_the_documented_shell_completion_prints_a_bash_script() -> None:
    from pathlib import Path

    readme = Path(__file__).resolve().parents[1].joinpath("README.md").read_text()
    assert 'eval "$(_YOKED_COMPLETE=bash_source yoked)"' in readme
    yoked_bin = str(Path(sys.executable).with_name("yoked"))
    script = subprocess.run(
        [yoked_bin],
        env={**os.environ, "_YOKED_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert script.returncode == 0, script.stderr
    assert "complete -o nosort -F _yoked_completion yoked" in script.stdout
    words = subprocess.run(
        [yoked_bin],
        env={
            **os.environ,
            "_YOKED_COMPLETE": "bash_complete",
            "COMP_WORDS": "yoked ou",
            "COMP_CWORD": "1",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "plain,outbox" in words.stdout.splitlines()
