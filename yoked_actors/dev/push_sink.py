"""A local push sink for `yoked dev`: what a phone would show, printed, instead of a real push.

It is a small HTTP server on 127.0.0.1 that answers the two calls of the Expo push API
(``/--/api/v2/push/send`` and ``/--/api/v2/push/getReceipts``), so `yoked dev` runs the real
Expo client (:mod:`yoked_actors.notifications.expo`: batches of 100, gzip, tickets, receipts)
against it with ``PUSH_PROVIDER=expo`` and ``EXPO_PUSH_URL`` pointing here. Every push it
accepts becomes a :class:`Shown` (title, body, deep link) handed to ``on_push``. Device tokens
are never printed or kept: a device is named by the order in which the sink first saw it.
"""

from __future__ import annotations

import gzip
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SEND_PATH = "/--/api/v2/push/send"
RECEIPTS_PATH = "/--/api/v2/push/getReceipts"


@dataclass(frozen=True)
class Shown:
    """One push as a phone would show it."""

    device: int
    title: str
    body: str
    link: str

    def line(self) -> str:
        return f'device {self.device}: "{self.title}" - {self.body} -> {self.link}'


class PushSink:
    """The sink server. ``start()`` serves in a thread; ``stop()`` shuts it down."""

    def __init__(self, on_push: Callable[[Shown], None] = lambda shown: None) -> None:
        self.on_push = on_push
        self.shown: list[Shown] = []
        self._devices: dict[str, int] = {}
        self._tickets = itertools.count(1)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="yoked-push-sink", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> PushSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def accept(self, messages: list[dict[str, Any]]) -> list[dict[str, str]]:
        """Show each message; one "ok" ticket per message, in order."""
        tickets = []
        for message in messages:
            with self._lock:
                device = self._devices.setdefault(str(message.get("to")), len(self._devices) + 1)
                ticket = f"sink-{next(self._tickets)}"
            data = message.get("data") or {}
            shown = Shown(
                device=device,
                title=str(message.get("title", "")),
                body=str(message.get("body", "")),
                link=str(data.get("url", "")) if isinstance(data, dict) else "",
            )
            with self._lock:
                self.shown.append(shown)
            self.on_push(shown)
            tickets.append({"status": "ok", "id": ticket})
        return tickets


def _handler(sink: PushSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.headers.get("content-encoding") == "gzip":
                raw = gzip.decompress(raw)
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                self._answer(400, {"errors": [{"code": "BAD_JSON"}]})
                return
            if self.path == SEND_PATH and isinstance(body, list):
                self._answer(200, {"data": sink.accept(body)})
            elif self.path == RECEIPTS_PATH and isinstance(body, dict):
                ids = body.get("ids") or []
                self._answer(200, {"data": {str(i): {"status": "ok"} for i in ids}})
            else:
                self._answer(404, {"errors": [{"code": "NOT_FOUND"}]})

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Print no request lines: they are noise here; the pushes are what is printed."""

    return Handler
