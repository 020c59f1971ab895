"""Every example in clients/typescript/README.md (the API team's guide) runs as written: the
install line in a fresh project, the emit example (a real worker moderates the message), the
outbox example (a real relay publishes the row, a worker moderates it) and the outbox SQL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from moderation_support import event_for, make_message, make_user, result_of, wait_for

from yoked_actors.runs.outbox import relay_once

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "typescript"
README = CLIENT / "README.md"
# The examples use `message`, the chat message the API just stored.
PRELUDE = "const message = JSON.parse(process.env.EXAMPLE_MESSAGE);\n"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def _tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the TypeScript client's README examples")
    if not (CLIENT / "node_modules" / "amqplib").is_dir():
        pytest.fail("clients/typescript is not installed: run `npm ci --prefix clients/typescript`")
    return node, npm


def _run_example(node: str, cwd: Path, code: str, env: dict[str, str]) -> str:
    script = cwd / f"readme-example-{uuid.uuid4().hex[:8]}.mjs"
    script.write_text(PRELUDE + code)
    try:
        done = subprocess.run(
            [node, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        script.unlink()
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_the_readme_lists_the_examples_this_test_runs() -> None:
    assert len(_blocks("sh")) == 1
    assert len(_blocks("js")) == 2
    assert len(_blocks("sql")) == 1


def test_install_then_emit_as_the_readme_says(
    rabbitmq_broker: RabbitmqBroker, worker: Worker, rabbitmq_url: str, tmp_path: Path
) -> None:
    node, npm = _tools()
    (install,) = _blocks("sh")
    command = install.strip().replace("<path to yoked-actors>", str(ROOT)).split()
    assert command[:2] == ["npm", "install"]
    (tmp_path / "package.json").write_text('{"name": "api", "private": true, "type": "module"}')
    done = subprocess.run(
        [npm, *command[1:], "--no-audit", "--no-fund"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr

    sender, recipient = make_user(), make_user()
    message = make_message(sender, recipient, "I will kill you")
    env = {
        "PATH": os.environ["PATH"],
        "RABBITMQ_URL": rabbitmq_url,
        "EXAMPLE_MESSAGE": json.dumps(event_for(message, sender, "I will kill you")),
    }
    output = _run_example(node, tmp_path, _blocks("js")[0], env)
    assert "not sent" not in output
    result = wait_for(lambda: result_of(message))
    assert (result.decision, result.categories) == ("hidden", ["threats"])


def test_the_outbox_example_and_its_sql(
    rabbitmq_broker: RabbitmqBroker, worker: Worker, database_url: str
) -> None:
    node, _ = _tools()
    sender, recipient = make_user(), make_user()
    message = make_message(sender, recipient, "venmo me $50 at @gymbro now")
    payload = event_for(message, sender, "venmo me $50 at @gymbro now")
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": _plain(database_url),
        "EXAMPLE_MESSAGE": json.dumps(payload),
    }
    _run_example(node, CLIENT, _blocks("js")[1], env)
    with psycopg.connect(_plain(database_url)) as connection:
        rows = connection.execute(
            "SELECT actor, payload, idempotency_key FROM outbox WHERE sent_at IS NULL"
        ).fetchall()
    assert rows == [("moderation.moderate_message", payload, f"message.sent:{message}")]

    assert relay_once().sent == 1
    result = wait_for(lambda: result_of(message))
    assert result.decision == "flagged"

    # The statement the README shows is the one addToOutbox runs; run it as shown.
    (sql,) = _blocks("sql")
    exported = subprocess.run(
        [
            node,
            "-e",
            "import('@yoked/actors-client').then(m => process.stdout.write(m.OUTBOX_INSERT_SQL))",
        ],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    assert sql.strip() == exported
    with psycopg.connect(_plain(database_url)) as connection:
        again = re.sub(r"\$\d", "%s", sql.strip())
        args = ("moderation.moderate_message", json.dumps(payload), f"message.sent:{message}")
        assert connection.execute(again, args).fetchall() == []  # the key exists: no second row
        other = connection.execute(again, (*args[:2], "another-key")).fetchall()
        assert len(other) == 1
        connection.rollback()


def test_the_cli_sends_an_idempotency_key_and_a_repeat_is_skipped(
    rabbitmq_broker: RabbitmqBroker, worker: Worker, rabbitmq_url: str, database_url: str
) -> None:
    node, _ = _tools()
    sender, recipient = make_user(), make_user()
    message = make_message(sender, recipient, "see you at 6")
    key = f"message.sent:{message}"
    command = [
        node,
        str(CLIENT / "bin" / "emit.js"),
        "message.sent",
        "--json",
        json.dumps(event_for(message, sender, "see you at 6")),
        "--url",
        f"{rabbitmq_url},{rabbitmq_url}",  # several nodes, comma-separated
        "--idempotency-key",
        key,
    ]

    def statuses() -> list[str]:
        with psycopg.connect(_plain(database_url)) as connection:
            rows = connection.execute(
                "SELECT status FROM job_runs WHERE idempotency_key = %s ORDER BY status", (key,)
            ).fetchall()
        return [r[0] for r in rows]

    for expected in (["succeeded"], ["skipped", "succeeded"]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        wait_for(lambda expected=expected: statuses() == expected)
    assert result_of(message) is not None
