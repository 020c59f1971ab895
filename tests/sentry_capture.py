"""A Sentry transport that keeps events in memory, for tests that inspect what would be sent."""

from __future__ import annotations

import json
from typing import Any

from sentry_sdk.transport import Transport


class CapturingTransport(Transport):
    """Keeps every envelope Sentry would send: serialised as on the wire, and as items."""

    def __init__(self, options: Any = None) -> None:
        super().__init__(options)
        self.envelopes: list[str] = []
        self.check_ins: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Any) -> None:
        self.envelopes.append(envelope.serialize().decode("utf-8", "replace"))
        for item in envelope.items:
            if item.headers.get("type") == "check_in":
                self.check_ins.append(json.loads(item.payload.get_bytes()))
