"""Scheduling: every scheduled job fires once per due time, at the right local time.

- :mod:`.cron`: cron evaluation in a schedule's IANA timezone, with its DST policy (pure).
- :mod:`.table`: the schedules to run (the cron table, :mod:`yoked_actors.schedules`, plus
  periodiq-style actors) and the fire key that names one fire.
- :mod:`.scheduler`: the loop that turns those schedules into messages, each (schedule, due
  time) once whatever the number of replicas.
- :mod:`.store`: the fire ledger (``schedule_fires``), every statement on it.
- :mod:`.checkins`: Sentry Crons check-ins.

The worker side (a fire that waited beyond its window is recorded as missed) is the
:mod:`yoked_actors.middleware.scheduled_fires` middleware. See docs/scheduling.md.
"""
