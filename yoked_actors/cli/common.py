"""What every command shares: bad-input errors, JSON arguments, settings errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from yoked_actors.errors import PermanentError, SettingsError


class BadInput(click.ClickException):
    """A one-line error about what the user typed; exit status 2, nothing done."""

    exit_code = 2


def parse_json_object(raw: str, *, option: str = "--json") -> dict[str, Any]:
    """``raw`` as a JSON object, or BadInput saying where it is malformed."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise BadInput(f"{option} is not valid JSON: {error.msg} at column {error.colno}") from None
    if not isinstance(value, dict):
        raise BadInput(f'{option} must be a JSON object, like \'{{"key": "value"}}\'')
    return value


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn the errors a user can fix into one-line messages with exit status 2."""
    try:
        yield
    except (PermanentError, SettingsError) as error:
        raise BadInput(str(error)) from None


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))
