"""The optional remote provider over real HTTP (a server on 127.0.0.1 started by the test):
scores merged in, and the local verdict kept on timeout, error or nonsense."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from yoked_actors.errors import SettingsError
from yoked_actors.moderation import moderate
from yoked_actors.moderation.provider import HttpProvider, make_provider
from yoked_actors.settings import load_moderation_provider_settings


class FakeProvider(ThreadingHTTPServer):
    daemon_threads = True
    mode = "ok"
    received: list[dict[str, object]]
    auth: list[str | None]


class Handler(BaseHTTPRequestHandler):
    server: FakeProvider

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.received.append(body)
        self.server.auth.append(self.headers.get("Authorization"))
        if self.server.mode == "slow":
            time.sleep(1.0)
        if self.server.mode == "error":
            self.send_response(503)
            self.end_headers()
            return
        reply = (
            b"not json"
            if self.server.mode == "garbage"
            else json.dumps({"scores": {"threats": 0.99, "unknown_category": 1.0}}).encode()
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[FakeProvider]:
    httpd = FakeProvider(("127.0.0.1", 0), Handler)
    httpd.received, httpd.auth = [], []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server: FakeProvider) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/v1/score"


def test_remote_scores_are_merged_with_the_local_ones(server: FakeProvider) -> None:
    provider = HttpProvider(_url(server), timeout_ms=2000, token="s3cret")
    try:
        verdict = moderate("see you at 6", provider=provider)
    finally:
        provider.close()
    assert (verdict.decision, verdict.categories, verdict.source) == (
        "hidden",
        ["threats"],
        "remote",
    )
    assert "unknown_category" not in verdict.scores
    # Only the provider found the threat: held for review, not a suspension at once.
    assert (verdict.rules_categories, verdict.held) == ([], True)
    assert server.received == [{"text": "see you at 6"}]
    assert server.auth == ["Bearer s3cret"]


@pytest.mark.parametrize("mode", ["slow", "error", "garbage"])
def test_a_slow_failing_or_nonsensical_provider_falls_back_to_the_local_verdict(
    server: FakeProvider, mode: str
) -> None:
    server.mode = mode
    provider = HttpProvider(_url(server), timeout_ms=200)
    started = time.monotonic()
    try:
        verdict = moderate("add me on snap", provider=provider)
    finally:
        provider.close()
    assert time.monotonic() - started < 0.9  # bounded by the timeout, not the slow server
    assert (verdict.decision, verdict.categories, verdict.source) == (
        "flagged",
        ["off_platform"],
        "fallback",
    )


def provider_from_env(env: dict[str, str]) -> HttpProvider | None:
    return make_provider(load_moderation_provider_settings(env))


def test_the_provider_is_off_unless_configured() -> None:
    assert provider_from_env({}) is None
    provider = provider_from_env(
        {"MODERATION_PROVIDER_URL": "http://127.0.0.1:9/x", "MODERATION_PROVIDER_TIMEOUT_MS": "50"}
    )
    assert isinstance(provider, HttpProvider)
    provider.close()
    with pytest.raises(SettingsError, match="MODERATION_PROVIDER_TIMEOUT_MS"):
        provider_from_env(
            {"MODERATION_PROVIDER_URL": "http://x", "MODERATION_PROVIDER_TIMEOUT_MS": "soon"}
        )
    with pytest.raises(SettingsError, match="MODERATION_PROVIDER_URL"):
        provider_from_env({"MODERATION_PROVIDER_URL": "ftp://x"})
