"""The console served by uvicorn on loopback against the run's database and RabbitMQ vhost, and
a real headless Chromium (Debian's chromium + chromium-driver) driven through Selenium."""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.conftest import test_settings_for
from yoked_actors import db
from yoked_actors.console.app import create_app
from yoked_actors.console.users import add_user

PASSWORD = "correct horse battery"


@dataclass
class Server:
    url: str
    app: object


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def console_server(database_url: str, rabbitmq_url: str) -> Iterator[Server]:
    settings = test_settings_for(database_url, rabbitmq_url)
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    yield Server(f"http://127.0.0.1:{port}", app)
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def users(clean_db: str) -> dict[str, str]:
    """A viewer and an operator, with :data:`PASSWORD`."""
    with db.session_scope() as session:
        add_user(session, "vera", "viewer", PASSWORD)
        add_user(session, "otto", "operator", PASSWORD)
    return {"viewer": "vera", "operator": "otto"}


@pytest.fixture(autouse=True)
def _fresh_limiter(request: pytest.FixtureRequest) -> None:
    """Each test starts with no failed logins counted."""
    if "console_server" in request.fixturenames:
        from yoked_actors.console.auth import LoginLimiter

        server: Server = request.getfixturevalue("console_server")
        server.app.state.console.limiter = LoginLimiter()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("chromium and chromium-driver are required (scripts/test installs them)")
    profile = tempfile.mkdtemp(prefix="yoked-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def basic(name: str) -> httpx.BasicAuth:
    return httpx.BasicAuth(name, PASSWORD)
