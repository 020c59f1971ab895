"""What every command shares: bad-input errors, JSON arguments, the settings, database and
broker prologues, and the one table printer.

A command never builds a broker or a session by hand: :func:`checked_settings` turns a missing or
malformed setting into a one-line error (exit status 2), :func:`database_session` opens the
unit of work on ``DATABASE_URL``, :func:`connect_broker` declares every job and binds them to the
broker built from the settings (the commands that send or run jobs), and :func:`print_table`
prints rows in aligned columns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

import click
from dramatiq import Broker
from sqlalchemy.orm import Session

from yoked_actors.errors import PermanentError, SettingsError
from yoked_actors.settings import Settings, get_settings
from yoked_actors.timespec import TimeSpecError, parse_time, plain


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


class NotFound(click.ClickException):
    """What was asked for does not exist (a run, a row); exit status 1."""

    exit_code = 1


def print_json(value: Any) -> None:
    """``value`` as indented JSON, every datetime RFC 3339 in UTC ending in ``Z``."""
    click.echo(json.dumps(plain(value), indent=2, default=str))


def parse_when(raw: str | None, option: str = "--since") -> datetime | None:
    """The one ``--since``/``--until`` syntax (``15m``, ``2h``, ``7d``, ISO), or BadInput."""
    if raw is None:
        return None
    try:
        return parse_time(raw, name=option)
    except TimeSpecError as error:
        raise BadInput(f"{option} {error}") from None


def payload_options(*, required: bool = False) -> Callable[[Callable[..., Any]], Any]:
    """``--payload JSON`` (input), with ``--json`` still accepted as a deprecated alias."""

    def decorate(function: Callable[..., Any]) -> Any:
        function = click.option(
            "--json", "legacy_payload", hidden=True, help="Deprecated: use --payload."
        )(function)
        return click.option(
            "--payload",
            "payload",
            default=None if required else "{}",
            show_default=not required,
            help="The payload, a JSON object." + (" Required." if required else ""),
        )(function)

    return decorate


def chosen_payload(payload: str | None, legacy: str | None, *, required: bool = False) -> str:
    """The payload text from ``--payload`` or the deprecated ``--json`` (one warning line)."""
    if legacy is not None:
        click.echo("warning: --json for a payload is deprecated; use --payload", err=True)
        if payload not in (None, "{}"):
            raise BadInput("give the payload once, with --payload")
        return legacy
    if payload is None:
        raise BadInput("missing option --payload (a JSON object)")
    return payload


def no_color() -> bool:
    """True when colour is off: ``NO_COLOR`` set (any value) or stdout not a terminal."""
    import os
    import sys

    return "NO_COLOR" in os.environ or not sys.stdout.isatty()


def styled(text: str, **style: Any) -> str:
    """``text`` in colour on a terminal, plain otherwise and always with ``NO_COLOR``."""
    return text if no_color() else click.style(text, **style)


def checked_settings(*, database: bool = False, rabbitmq: bool = False) -> Settings:
    """The process's settings, with ``DATABASE_URL`` / ``RABBITMQ_URL`` required as asked.

    A missing or malformed setting is a one-line error naming the variable (exit status 2).
    """
    with reported_errors():
        settings = get_settings()
        if database:
            settings.require_database_url()
        if rabbitmq:
            settings.require_rabbitmq_url()
    return settings


def database_session() -> AbstractContextManager[Session]:
    """A unit of work on ``DATABASE_URL`` (``db.session_scope``); BadInput if it is not set."""
    from yoked_actors.db import session_scope

    checked_settings(database=True)
    return session_scope()


def connect_broker(settings: Settings | None = None) -> Broker:
    """Declare every job and bind them to the broker built from the settings.

    RabbitMQ when ``RABBITMQ_URL`` is set, the in-process stub otherwise (``yoked run``).
    """
    from yoked_actors.actors import load_actors
    from yoked_actors.broker import setup_broker

    load_actors()
    return setup_broker(settings or get_settings())


def declare_jobs_offline() -> None:
    """Declare every job and bind them to an in-memory broker: what commands that only read
    the jobs' declarations (schedules, options) need, without connecting to anything."""
    from dramatiq.brokers.stub import StubBroker

    from yoked_actors.actors import load_actors
    from yoked_actors.broker import middleware_stack, use_broker
    from yoked_actors.settings import load_settings

    load_actors()
    use_broker(StubBroker(middleware=middleware_stack(load_settings({}))))


def table_lines(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """``header`` and ``rows`` as lines of left-aligned columns two spaces apart, each line
    stripped of trailing spaces."""
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in table
    ]


def print_table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    echo: Callable[[str], Any] = click.echo,
) -> None:
    """Print :func:`table_lines` of ``header`` and ``rows``."""
    for line in table_lines(header, rows):
        echo(line)


def _where(url: str | None) -> str:
    """``host:port`` of ``url`` (never its password), or ``not set``."""
    from urllib.parse import urlsplit

    if not url:
        return "not set"
    try:
        parts = urlsplit(url.split(";")[0])
        return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)
    except ValueError:
        return "unparseable URL"


def unreachable_service(error: BaseException) -> str | None:
    """A one-line message naming the database or broker ``error`` failed to reach, or None."""
    import pika.exceptions
    import sqlalchemy.exc
    from dramatiq.errors import ConnectionError as BrokerConnectionError

    try:
        settings = get_settings()
    except SettingsError:
        return None
    if isinstance(error, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return (
            f"cannot reach the database at {_where(settings.database_url)} (DATABASE_URL): "
            f"{str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__}"
        )
    if isinstance(error, pika.exceptions.AMQPError | BrokerConnectionError):
        return (
            f"cannot reach the broker at {_where(settings.rabbitmq_url)} (RABBITMQ_URL): "
            f"{type(error).__name__}"
        )
    return None


class YokedGroup(click.Group):
    """The root group: an unreachable database or broker is one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as error:
            message = unreachable_service(error)
            if message is None:
                raise
            raise click.ClickException(message) from None
