"""A fake Expo push service: a real HTTP server on 127.0.0.1 speaking the Expo push API.

``POST /--/api/v2/push/send`` (a JSON array of up to 100 messages, gzip or plain) answers
tickets in request order; ``POST /--/api/v2/push/getReceipts`` (``{"ids": [...]}``, up to 1,000)
answers receipts. Scriptable: queued faults for the next requests (429 with Retry-After, 5xx,
400, slow answers, answers that never come), tokens that are unregistered at send time (ticket
error) or later (receipt error), a required access token.

Run it alone (``python tests/notifications/fake_expo.py``) to serve on a free port; it prints
the base URL. The benchmark does that so the client does not share its interpreter.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SEND = "/--/api/v2/push/send"
RECEIPTS = "/--/api/v2/push/getReceipts"


@dataclass(frozen=True)
class Fault:
    """What the next request gets instead of a normal answer.

    ``status`` set: that status with an Expo-style error body (and ``Retry-After`` if given),
    the request is not processed. ``delay`` alone: a normal answer, ``delay`` seconds late (the
    request is processed first, so a client that times out has in fact sent the messages).
    """

    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    code: str = "FAKE_ERROR"


@dataclass
class RequestRecord:
    path: str
    count: int
    status: int
    gzipped: bool
    authorization: str | None


@dataclass
class FakeExpo:
    """The server's state; read it from tests (guarded by ``lock``)."""

    access_token: str | None = None
    #: Accepted messages, in arrival order, each with its ``_ticket`` id.
    accepted: list[dict[str, Any]] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    send_faults: deque[Fault] = field(default_factory=deque)
    receipt_faults: deque[Fault] = field(default_factory=deque)
    #: Tokens answered with a DeviceNotRegistered ticket.
    unregistered: set[str] = field(default_factory=set)
    #: Tokens whose tickets are ok but whose receipts say DeviceNotRegistered.
    unregistered_later: set[str] = field(default_factory=set)
    #: Added to every answer (a uniformly slow service).
    latency: float = 0.0
    #: Keep accepted messages (the benchmark turns it off to save memory).
    keep_messages: bool = True
    accepted_count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    tickets: dict[str, str] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    # -- control -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    def start(self, port: int = 0) -> FakeExpo:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def script(self, *faults: Fault) -> None:
        """Queue faults for the next send requests, in order."""
        with self.lock:
            self.send_faults.extend(faults)

    def tokens_received(self) -> list[str]:
        with self.lock:
            return [m["to"] for m in self.accepted]

    def send_requests(self) -> list[RequestRecord]:
        with self.lock:
            return [r for r in self.requests if r.path == SEND]

    # -- the API -------------------------------------------------------------------------------

    def handle(self, path: str, headers: Any, raw: bytes) -> tuple[int, dict[str, Any], Fault]:
        gzipped = headers.get("content-encoding", "") == "gzip"
        body = json.loads(gzip.decompress(raw) if gzipped else raw)
        faults = self.send_faults if path == SEND else self.receipt_faults
        with self.lock:
            fault = faults.popleft() if faults else Fault()
        count = len(body) if isinstance(body, list) else len(body.get("ids", []))

        def answer(status: int, payload: dict[str, Any]) -> tuple[int, dict[str, Any], Fault]:
            with self.lock:
                self.requests.append(
                    RequestRecord(path, count, status, gzipped, headers.get("authorization"))
                )
            return status, payload, fault

        if self.access_token and headers.get("authorization") != f"Bearer {self.access_token}":
            return answer(401, _errors("UNAUTHORIZED", "bad access token"))
        if fault.status is not None:
            return answer(fault.status, _errors(fault.code, "scripted fault"))
        if path == SEND:
            if count > 100:
                return answer(400, _errors("PUSH_TOO_MANY_NOTIFICATIONS", "over 100"))
            return answer(200, {"data": [self._ticket(m) for m in body]})
        if path == RECEIPTS:
            if count > 1000:
                return answer(400, _errors("PUSH_TOO_MANY_RECEIPTS", "over 1000"))
            return answer(200, {"data": self._receipts(body["ids"])})
        return answer(404, _errors("NOT_FOUND", "no such path"))

    def _ticket(self, message: dict[str, Any]) -> dict[str, Any]:
        token = message.get("to")
        if token in self.unregistered:
            return {
                "status": "error",
                "message": f'"{token}" is not a registered push notification recipient',
                "details": {"error": "DeviceNotRegistered", "expoPushToken": token},
            }
        ticket = str(uuid.uuid4())
        with self.lock:
            self.tickets[ticket] = str(token)
            self.accepted_count += 1
            if self.keep_messages:
                self.accepted.append({**message, "_ticket": ticket})
        return {"status": "ok", "id": ticket}

    def _receipts(self, ids: list[str]) -> dict[str, Any]:
        receipts: dict[str, Any] = {}
        with self.lock:
            for ticket in ids:
                token = self.tickets.get(ticket)
                if token is None:
                    continue
                if token in self.unregistered_later:
                    receipts[ticket] = {
                        "status": "error",
                        "message": "not registered",
                        "details": {"error": "DeviceNotRegistered"},
                    }
                else:
                    receipts[ticket] = {"status": "ok"}
        return receipts


def _errors(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message}]}


def _handler(fake: FakeExpo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("content-length", "0")))
            status, payload, fault = fake.handle(self.path, self.headers, raw)
            delay = fault.delay + fake.latency
            if delay:
                time.sleep(delay)
            body = json.dumps(payload).encode()
            # The client may have given up waiting (a scripted slow answer): nothing to send to.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                if fault.retry_after is not None:
                    self.send_header("retry-after", fault.retry_after)
                self.end_headers()
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


if __name__ == "__main__":
    server = FakeExpo(keep_messages=False).start(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(server.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
