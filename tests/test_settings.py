"""Settings fail at start with a message that names the variable and shows a valid value."""

from __future__ import annotations

import subprocess
import sys

import pytest

from yoked_actors.errors import SettingsError
from yoked_actors.settings import load_settings


def test_defaults_are_development_values() -> None:
    settings = load_settings({})
    assert settings.environment == "development"
    assert settings.database_url is None and settings.rabbitmq_url is None
    assert (settings.worker_processes, settings.worker_threads) == (2, 8)


def test_provider_style_postgres_urls_get_the_psycopg_dialect() -> None:
    settings = load_settings({"DATABASE_URL": "postgres://u:p@db:5432/yoked"})
    assert settings.database_url == "postgresql+psycopg://u:p@db:5432/yoked"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        (
            {"DATABASE_URL": "mysql://x"},
            ["DATABASE_URL", "example: DATABASE_URL=postgresql+psycopg://"],
        ),
        ({"RABBITMQ_URL": "localhost:5672"}, ["RABBITMQ_URL", "example: RABBITMQ_URL=amqp://"]),
        ({"WORKER_THREADS": "lots"}, ["WORKER_THREADS='lots'", "example: WORKER_THREADS=8"]),
        ({"WORKER_PROCESSES": "0"}, ["WORKER_PROCESSES", "positive"]),
        ({"YOKED_ENV": "prod"}, ["YOKED_ENV", "development, test, staging, production"]),
        ({"LOG_FORMAT": "xml"}, ["LOG_FORMAT", "json"]),
    ],
)
def test_a_malformed_value_names_the_variable_and_an_example(
    env: dict[str, str], names: list[str]
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    for expected in names:
        assert expected in str(caught.value)


def test_a_worker_without_database_url_stops_at_start_with_one_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"PATH": "/usr/bin:/bin", "RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672/"}
    result = subprocess.run(
        [sys.executable, "-m", "yoked_actors", "worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Error: DATABASE_URL is not set; example: "
        "DATABASE_URL=postgresql+psycopg://yoked:secret@localhost:5432/yoked"
    )
