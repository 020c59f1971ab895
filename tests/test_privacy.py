"""Actor arguments (chat text, tokens) never reach Sentry events or log records."""

from __future__ import annotations

import json

import sentry_sdk
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker
from pydantic import BaseModel
from sentry_capture import CapturingTransport

from yoked_actors.broker import middleware_stack, use_broker
from yoked_actors.jobs import JOBS, job
from yoked_actors.queues import Queue
from yoked_actors.sentry import init_sentry, scrub_event
from yoked_actors.settings import load_settings

SECRET = "my-phone-is-555-0100-zebra"


class SecretPayload(BaseModel):
    text: str


def test_scrub_event_redacts_message_arguments_and_frame_variables() -> None:
    event = {
        "contexts": {
            "dramatiq": {
                "data": {
                    "args": [SECRET],
                    "kwargs": {"text": SECRET},
                    "options": {"traceback": SECRET},
                }
            }
        },
        "exception": {"values": [{"stacktrace": {"frames": [{"vars": {"text": SECRET}}]}}]},
    }
    assert SECRET not in json.dumps(scrub_event(event))


def test_a_failing_job_reaches_sentry_without_its_arguments() -> None:
    transport = CapturingTransport()
    settings = load_settings({"SENTRY_DSN": "https://public@sentry.invalid/1", "METRICS_PORT": "0"})
    assert init_sentry(settings)
    sentry_sdk.get_client().transport = transport
    broker = StubBroker(middleware=middleware_stack(settings))
    use_broker(broker)
    try:

        @job("test.sentry_secret", queue=Queue.DEFAULT, payload=SecretPayload, max_retries=0)
        def fails(payload: SecretPayload) -> None:
            raise RuntimeError("the job failed")

        worker = Worker(broker, worker_threads=1)
        worker.start()
        fails.send({"text": SECRET})
        broker.join(Queue.DEFAULT, fail_fast=False)
        worker.join()
        worker.stop()
        sentry_sdk.flush()
    finally:
        JOBS.pop("test.sentry_secret", None)
        sentry_sdk.get_client().close()
        sentry_sdk.init(dsn=None)

    sent = "\n".join(transport.envelopes)
    assert "the job failed" in sent  # the error itself is reported...
    assert SECRET not in sent  # ...without the argument it was called with


def test_a_failing_job_logs_its_actor_and_id_never_its_arguments(stub_broker, caplog) -> None:  # type: ignore[no-untyped-def]
    @job("test.log_secret", queue=Queue.DEFAULT, payload=SecretPayload, max_retries=0)
    def fails(payload: SecretPayload) -> None:
        raise RuntimeError("the job failed")

    try:
        worker = Worker(stub_broker, worker_threads=1)
        worker.start()
        with caplog.at_level("DEBUG"):
            message = fails.send({"text": SECRET})
            stub_broker.join(Queue.DEFAULT, fail_fast=False)
            worker.join()
        worker.stop()
    finally:
        JOBS.pop("test.log_secret", None)

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"test.log_secret[{message.message_id}]" in logged
    assert SECRET not in logged
