"""Run history and the reliability tables: the one home of ``job_runs``, ``idempotency_keys``
and ``outbox``.

- :mod:`.events`: the statuses of a run and how two events of one message merge (pure).
- :mod:`.current`: the run this worker thread is processing (a skip reason set by middleware).
- :mod:`.recorder`: the buffered, batched writer of run events and its flusher thread.
- :mod:`.envelope`: the message-envelope check that records a malformed body as failed.
- :mod:`.history`: reading runs as plain values and replaying failed ones (``yoked runs``).
- :mod:`.outbox`: the transactional outbox (producers' rows) and its relay.
- :mod:`.store`: every SQL statement on these tables; functions take a session and never
  commit.

The middleware that feeds the recorder is :mod:`yoked_actors.middleware.run_history`; the
policies are in docs/reliability.md.
"""
