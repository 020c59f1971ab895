"""`yoked console add-user` as docs/console.md shows it, and `yoked console` serving pages."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx

from tests.console.console_support import count
from yoked_actors.models.console import ConsoleUser


def _yoked(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [".venv/bin/yoked", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_add_user_reads_the_password_from_stdin_and_serves_a_login(service_env, clean_db):
    made = _yoked(
        service_env,
        "console",
        "add-user",
        "ana",
        "--role",
        "operator",
        stdin="a long secret phrase\n",
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "console user ana (operator) saved"
    assert count(ConsoleUser, ConsoleUser.role == "operator") == 1
    bad = _yoked(service_env, "console", "add-user", "ana", "--role", "admin", stdin="x" * 12)
    assert bad.returncode == 2 and "admin" in bad.stderr
    short = _yoked(service_env, "console", "add-user", "bo", "--role", "viewer", stdin="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [".venv/bin/yoked", "console", "--host", "127.0.0.1", "--port", str(port)],
        env=service_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                reply = httpx.get(
                    f"http://127.0.0.1:{port}/runs?format=json",
                    auth=("ana", "a long secret phrase"),
                )
                break
            except httpx.ConnectError:
                assert time.monotonic() < deadline, "yoked console did not start"
                time.sleep(0.2)
        # (runs recorded late by earlier tests may be listed: only the answer's shape is checked)
        assert reply.status_code == 200, reply.text
        assert isinstance(reply.json()["runs"], list)
    finally:
        server.terminate()
        server.wait(10)
