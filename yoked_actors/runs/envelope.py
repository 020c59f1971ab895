"""The message-envelope check: a body that is not a valid Dramatiq message is recorded in the
run history as failed (with why) before Dramatiq dead-letters it.

A valid envelope is a UTF-8 JSON object with exactly the fields of :data:`REQUIRED`, each of
its type. The error raised for any other body names what is wrong, never the body itself
(Dramatiq's own decoder quotes the body, and logs it). See docs/reliability.md.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from dramatiq.encoder import JSONEncoder

from yoked_actors.errors import ERROR_MESSAGE_CHARS
from yoked_actors.runs.events import STATUS_RANK
from yoked_actors.runs.recorder import RunRecorder

#: The fields of a Dramatiq message envelope and their types.
REQUIRED = {
    "queue_name": str,
    "actor_name": str,
    "args": list,
    "kwargs": dict,
    "options": dict,
    "message_id": str,
    "message_timestamp": int,
}


def envelope_problems(fields: Mapping[str, Any]) -> list[str]:
    """What is wrong with a decoded envelope: mistyped, missing or unknown fields."""
    problems = [
        f"{name} must be {kind.__name__}"
        for name, kind in REQUIRED.items()
        if not isinstance(fields.get(name), kind) or isinstance(fields.get(name), bool)
    ]
    unknown = sorted(set(fields) - set(REQUIRED))
    if unknown:
        problems.append(f"unknown fields {', '.join(unknown)}")
    return problems


class RecordingJSONEncoder(JSONEncoder):
    """Dramatiq's JSON encoder, plus: a body that is not a valid message envelope is recorded
    in the run history as failed (with why) before Dramatiq dead-letters it.

    The error raised names what is wrong, never the body.
    """

    REQUIRED = REQUIRED

    def __init__(self, recorder: RunRecorder) -> None:
        self.recorder = recorder

    def decode(self, data: bytes) -> Any:
        try:
            fields = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            self._reject(None, "body is not UTF-8 text")
        except json.JSONDecodeError as error:
            self._reject(None, f"body is not JSON: {error.msg} at column {error.colno}")
        if not isinstance(fields, dict):
            self._reject(None, f"body is a JSON {type(fields).__name__}, not an object")
        problems = envelope_problems(fields)
        if problems:
            self._reject(fields, "; ".join(problems))
        return fields

    def _reject(self, fields: Mapping[str, Any] | None, reason: str) -> Any:
        fields = fields or {}

        def text_field(name: str) -> str:
            value = fields.get(name)
            return value[:200] if isinstance(value, str) and value else "?"

        message_id = fields.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            message_id = f"undecodable-{uuid.uuid4()}"
        self.recorder.record(
            message_id[:200],
            {
                "actor": text_field("actor_name"),
                "queue": text_field("queue_name"),
                "status": "failed",
                "status_rank": STATUS_RANK["failed"],
                "attempts": 1,
                "finished_at": time.time(),
                "error_type": "DecodeError",
                "error_message": f"malformed message: {reason}"[:ERROR_MESSAGE_CHARS],
            },
        )
        raise ValueError(f"malformed message: {reason}")
