"""The project's own Dramatiq middleware: one middleware class per module, nothing else.

- :mod:`.database`: ``DatabaseLifecycle``, one connection pool per worker process.
- :mod:`.run_history`: ``RunHistory``, one ``job_runs`` row per message (written by
  :mod:`yoked_actors.runs.recorder`).
- :mod:`.idempotency`: ``Idempotency`` and ``claim_once``, effects-once under redelivery.
- :mod:`.retry_policy`: ``RetryPolicy``, transient and permanent errors retried apart.
- :mod:`.scheduled_fires`: ``ScheduledFires``, a scheduled message that waited beyond its
  catch-up window is recorded as missed.

The order in which they run is decided in one place only:
:func:`yoked_actors.broker.middleware_stack`. See docs/reliability.md and docs/scheduling.md.
"""
