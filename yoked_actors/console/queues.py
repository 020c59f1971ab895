"""Queue depths from RabbitMQ's management HTTP API (``RABBITMQ_MANAGEMENT_URL``).

Each work queue is shown with its ``.DQ`` (delayed retries) and ``.XQ`` (dead letters). The
vhost is the one of ``RABBITMQ_URL``. A management API that cannot be reached is reported in one
line on the page, never as an error of the page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote, urlsplit

import httpx

from yoked_actors.queues import Queue


def vhost_of(amqp_url: str | None) -> str:
    path = urlsplit(amqp_url).path if amqp_url else ""
    return unquote(path[1:]) if len(path) > 1 else "/"


def queue_depths(
    management_url: str, amqp_url: str | None, timeout_s: float = 2.0
) -> dict[str, Any]:
    """``{"queues": [{name, ready, unacked, delayed_ready, dead_ready}], "error": ...}``."""
    parts = urlsplit(management_url)
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    base = f"{parts.scheme}://{parts.hostname}:{parts.port or 15672}{parts.path.rstrip('/')}"
    vhost = vhost_of(amqp_url)
    try:
        response = httpx.get(
            f"{base}/api/queues/{quote(vhost, safe='')}",
            params={
                "columns": "name,messages_ready,messages_unacknowledged,head_message_timestamp"
            },
            auth=auth,
            timeout=timeout_s,
        )
        response.raise_for_status()
        found = {q["name"]: q for q in response.json()}
    except (httpx.HTTPError, ValueError) as error:
        return {"queues": [], "error": f"management API unavailable: {type(error).__name__}"}
    rows = []
    for queue in Queue:
        name = str(queue.value)
        main, delayed, dead = (found.get(n, {}) for n in (name, f"{name}.DQ", f"{name}.XQ"))
        rows.append(
            {
                "name": name,
                "ready": main.get("messages_ready"),
                "unacked": main.get("messages_unacknowledged"),
                "delayed_ready": delayed.get("messages_ready"),
                "dead_ready": dead.get("messages_ready"),
                "declared": bool(main),
            }
        )
    return {"queues": rows, "error": None}
