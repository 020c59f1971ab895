"""The operator console in `yoked dev`: served on 127.0.0.1 with a ready-made local account.

`yoked dev` uses two names of the console package: ``console.app.create_app(settings)`` (a
Starlette app, served here with uvicorn) and ``console.users.add_user`` (which creates the user or
resets its role and password).

The account's name and password are kept in ``.yoked/console-operator`` (git-ignored, mode 0600)
so each start prints the same ones.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yoked_actors.db import session_scope
from yoked_actors.settings import Settings

#: The ready-made account's role in the console.
OPERATOR_ROLE = "operator"
OPERATOR_NAME = "operator"
PREFERRED_PORT = 8088


def _port() -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", PREFERRED_PORT))
        except OSError:
            probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def operator_account(dev_dir: Path) -> tuple[str, str]:
    """Create the local operator account (or recreate the remembered one); (name, password)."""
    from yoked_actors.console.users import add_user

    remembered = dev_dir / "console-operator"
    if remembered.exists():
        name, _, password = remembered.read_text().strip().partition(" ")
    else:
        name, password = OPERATOR_NAME, secrets.token_urlsafe(12)
    with session_scope() as session:
        add_user(session, name, OPERATOR_ROLE, password)  # creates it, or resets its password
    dev_dir.mkdir(exist_ok=True)
    remembered.touch(mode=0o600)
    remembered.write_text(f"{name} {password}\n")
    return name, password


def start_console(settings: Settings, dev_dir: Path, echo: Any) -> Callable[[], None]:
    """Serve the console in a thread and print its address and account; returns its stop
    function."""
    import uvicorn

    from yoked_actors.console.app import create_app

    name, password = operator_account(dev_dir)
    port = _port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="yoked-console", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    echo(f"  console: http://127.0.0.1:{port}/  (operator account: {name} / {password})")

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)

    return stop
