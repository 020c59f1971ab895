"""No chat text reaches log records or Sentry events while messages are moderated, including a
job that fails: a real worker on RabbitMQ, Sentry capturing in-process, logs at DEBUG."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sentry_sdk
from dramatiq import Worker
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.stub import StubBroker
from moderation_support import event_for, make_message, make_user, result_of, wait_for
from sentry_capture import CapturingTransport

from yoked_actors import events
from yoked_actors.actors import moderation as moderation_actor
from yoked_actors.broker import amqp_url_with_defaults, middleware_stack, use_broker
from yoked_actors.queues import Queue
from yoked_actors.sentry import init_sentry, scrub_event
from yoked_actors.settings import load_settings

MARKER = "zq7-marker-4f1e-you-idiot-555-123-4567"



def test_message_text_never_reaches_logs_or_sentry(
    database_url: str,
    rabbitmq_url: str,
    clean_db: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = load_settings(
        {
            "DATABASE_URL": database_url,
            "RABBITMQ_URL": rabbitmq_url,
            "METRICS_PORT": "0",
            "SENTRY_DSN": "https://public@sentry.invalid/1",
            "YOKED_ENV": "test",
        }
    )
    assert init_sentry(settings)
    client = sentry_sdk.get_client()
    assert client.options["before_send"] is scrub_event
    transport = CapturingTransport()
    client.transport = transport
    broker = RabbitmqBroker(
        url=amqp_url_with_defaults(rabbitmq_url),
        confirm_delivery=True,
        middleware=middleware_stack(settings),
    )
    use_broker(broker)
    broker.emit_after("process_boot")
    worker = Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    sender, recipient = make_user(), make_user()
    try:
        judged = make_message(sender, recipient, f"you idiot {MARKER}")
        events.emit("message.sent", event_for(judged, sender, content=MARKER))
        wait_for(lambda: result_of(judged))

        def broken_engine(text: str, **_: Any) -> Any:
            raise RuntimeError("the engine broke")

        monkeypatch.setattr(moderation_actor, "moderate", broken_engine)
        failing = make_message(sender, recipient, f"call me {MARKER}")
        events.emit("message.sent", event_for(failing, sender, content=MARKER), max_retries=0)
        broker.join(Queue.MODERATION, timeout=30_000)
        worker.join()
        sentry_sdk.flush()
    finally:
        worker.stop()
        broker.channel.queue_purge(f"{Queue.MODERATION}.XQ")
        broker.close()
        client.close()
        sentry_sdk.init(dsn=None)
        use_broker(StubBroker(middleware=middleware_stack(load_settings({"METRICS_PORT": "0"}))))

    assert result_of(judged).decision == "flagged"  # type: ignore[union-attr]
    assert result_of(failing) is None
    sent = "\n".join(transport.envelopes)
    assert "the engine broke" in sent  # Sentry did capture the failure...
    assert MARKER not in sent  # ...without the text
    assert any("moderated message" in r.getMessage() for r in caplog.records)
    for record in caplog.records:
        assert MARKER not in record.getMessage()
        assert MARKER not in repr(vars(record))
