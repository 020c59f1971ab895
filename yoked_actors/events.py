"""Events: what the API announces, its schema, and the actor that handles it.

An event is a named fact with a camelCase JSON payload (the API is TypeScript). On the wire an
event is simply a Dramatiq message for its actor whose ``kwargs`` are the event's payload as the
API wrote it (docs/wire-format.md): there is no envelope and no router process. The actor's
payload model *is* the event schema, and it accepts both the camelCase names of the wire and
Python's snake_case names, so a TypeScript producer and ``yoked emit`` produce identical messages.

Registry: :data:`EVENTS`. To add an event, declare its schema here, point it at a job whose
``payload=`` is that schema, and run ``yoked contract --write`` (a test fails until the committed
schemas match the code).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import dramatiq
import pydantic
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from yoked_actors.errors import PayloadError, UnknownActorError
from yoked_actors.jobs import describe_validation_error

#: Longest chat message the schema accepts (characters); the API's own limit is lower.
MAX_CONTENT_LENGTH = 10_000


class EventPayload(BaseModel):
    """Base of every event schema: camelCase on the wire, snake_case in Python, nothing extra."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=True,
        serialize_by_alias=True,  # a message sent from Python carries the camelCase names too
    )


class MessageSent(EventPayload):
    """A user sent a chat message. Handled by ``moderation.moderate_message``."""

    message_id: UUID = Field(description="messages.id of the new message.")
    content: str = Field(
        max_length=MAX_CONTENT_LENGTH,
        description=(
            "The text as stored in messages.content. The row is the truth: a verdict on this "
            "text is recorded only if it equals the row's content; otherwise the row is judged."
        ),
    )
    sender_id: UUID = Field(description="users.id of the sender (messages.sender_id).")


@dataclass(frozen=True)
class Event:
    """A registered event: its name, payload schema and the actor that handles it."""

    name: str
    schema: type[EventPayload]
    actor: str
    description: str


EVENTS: dict[str, Event] = {
    event.name: event
    for event in (
        Event(
            name="message.sent",
            schema=MessageSent,
            actor="moderation.moderate_message",
            description="A chat message was stored; judge it (moderation).",
        ),
    )
}


def get_event(name: str) -> Event:
    """The event registered as ``name``. Raises UnknownActorError listing the known ones."""
    try:
        return EVENTS[name]
    except KeyError:
        raise UnknownActorError(
            f"unknown event {name!r}; known events: {', '.join(sorted(EVENTS))}"
        ) from None


def validate(name: str, data: Mapping[str, Any]) -> EventPayload:
    """``data`` as the event's schema. Raises PayloadError naming each bad field (not values)."""
    event = get_event(name)
    try:
        return event.schema.model_validate(dict(data))
    except pydantic.ValidationError as error:
        raise PayloadError(f"{name}: {describe_validation_error(error)}") from None


def emit(name: str, data: Mapping[str, Any], **options: Any) -> dramatiq.Message[Any]:
    """Validate ``data`` and enqueue it for the event's actor; the enqueued message.

    Raises PayloadError (nothing enqueued) for a bad payload, UnknownActorError for an unknown
    event. The actor modules must be loaded (``load_actors()``).
    """
    from yoked_actors.jobs import get_job

    payload = validate(name, data)
    return get_job(get_event(name).actor).send(payload, **options)


def json_schema(event: Event) -> dict[str, Any]:
    """The JSON Schema of an event's payload (draft 2020-12), as committed in docs/schemas/."""
    schema = event.schema.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"yoked-actors/events/{event.name}.json",
        "title": event.name,
        "description": f"{event.description} Actor: {event.actor}.",
        **{key: value for key, value in schema.items() if key not in ("title", "description")},
    }
