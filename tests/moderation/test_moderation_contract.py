"""The events contract: generated docs match the code, `yoked emit` validates, and a message
published by the Node.js client (clients/typescript) is moderated by a real worker."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from moderation_support import event_for, make_message, make_user, result_of, wait_for

from yoked_actors import events
from yoked_actors.cli import main
from yoked_actors.contract import contract_files, stale_files
from yoked_actors.jobs import JOBS

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "typescript"
YOKED = str(Path(sys.executable).parent / "yoked")


def test_committed_contract_files_are_what_the_code_generates() -> None:
    assert stale_files(ROOT / "docs") == [], "run: yoked contract --write"
    schema = json.loads(contract_files()["schemas/message.sent.json"])
    assert schema["required"] == ["messageId", "content", "senderId"]
    assert schema["additionalProperties"] is False


def test_every_event_routes_to_a_job_whose_payload_is_the_event_schema() -> None:
    for event in events.EVENTS.values():
        assert JOBS[event.actor].payload is event.schema


def test_the_schema_takes_camel_case_and_python_names_and_sends_camel_case() -> None:
    wire = {
        "messageId": "0b6f3c52-3c0e-4f55-9a4b-7f1c2d9e8a10",
        "content": "hi",
        "senderId": "5d2e8f41-8a1b-4c7d-b3e2-1f0a9c8d7e6b",
    }
    python = {"message_id": wire["messageId"], "content": "hi", "sender_id": wire["senderId"]}
    assert events.validate("message.sent", wire) == events.validate("message.sent", python)
    message = JOBS["moderation.moderate_message"].message(python)
    assert message.kwargs == wire
    assert message.args == ()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            '{"messageId": "nope", "content": "x", '
            '"senderId": "5d2e8f41-8a1b-4c7d-b3e2-1f0a9c8d7e6b"}',
            "messageId",
        ),
        ('{"messageId": "0b6f3c52-3c0e-4f55-9a4b-7f1c2d9e8a10", "content": "x"}', "senderId"),
        (
            '{"messageId": "0b6f3c52-3c0e-4f55-9a4b-7f1c2d9e8a10", "content": 5, '
            '"senderId": "5d2e8f41-8a1b-4c7d-b3e2-1f0a9c8d7e6b"}',
            "content",
        ),
    ],
)
def test_yoked_emit_rejects_a_bad_payload_naming_the_field(payload: str, field: str) -> None:
    result = CliRunner().invoke(main, ["emit", "message.sent", "--payload", payload])
    assert result.exit_code == 2
    assert f"message.sent: {field}:" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_yoked_emit_rejects_an_unknown_event() -> None:
    result = CliRunner().invoke(main, ["emit", "message.deleted", "--payload", "{}"])
    assert result.exit_code == 2
    assert "unknown event 'message.deleted'; known events: message.sent" in result.output


def test_yoked_emit_enqueues_for_a_real_worker(
    rabbitmq_broker: RabbitmqBroker, worker: Worker, service_env: dict[str, str]
) -> None:
    sender, recipient = make_user(), make_user()
    message = make_message(sender, recipient, "my number is 555 123 4567")

    done = subprocess.run(
        [YOKED, "emit", "message.sent", "--payload", json.dumps(event_for(message, sender))],
        env=service_env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip()) == 36  # the message id
    result = wait_for(lambda: result_of(message))
    assert (result.decision, result.categories) == ("flagged", ["off_platform"])


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the Node.js client contract test needs Node.js >= 18")
    if not (CLIENT / "node_modules" / "amqplib").is_dir():
        pytest.fail(
            "clients/typescript is not installed: run `npm ci --prefix clients/typescript`"
            " (scripts/test does)"
        )
    return node


def test_the_node_client_publishes_message_sent_and_a_real_worker_moderates_it(
    rabbitmq_broker: RabbitmqBroker, worker: Worker, rabbitmq_url: str
) -> None:
    node = _node()
    sender, recipient = make_user(), make_user()
    message = make_message(sender, recipient, "I will kill you")

    done = subprocess.run(
        [
            node,
            str(CLIENT / "bin" / "emit.js"),
            "message.sent",
            "--json",
            json.dumps(event_for(message, sender)),
            "--url",
            rabbitmq_url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    result = wait_for(lambda: result_of(message))
    assert (result.outcome, result.decision, result.categories) == (
        "decided",
        "hidden",
        ["threats"],
    )


def test_the_node_client_rejects_a_bad_payload_naming_the_field(rabbitmq_url: str) -> None:
    node = _node()
    done = subprocess.run(
        [
            node,
            str(CLIENT / "bin" / "emit.js"),
            "message.sent",
            "--json",
            '{"messageId": "nope", "content": "x", '
            '"senderId": "5d2e8f41-8a1b-4c7d-b3e2-1f0a9c8d7e6b"}',
            "--url",
            rabbitmq_url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("message.sent: messageId: must be a UUID string")
