"""`yoked dev`: the whole service in one process, on local defaults. Development only.

- :mod:`.service`: runs worker, scheduler, console and database together (``run_dev``);
- :mod:`.local_postgres`: the PostgreSQL 15 server started when ``DATABASE_URL`` is not set;
- :mod:`.push_sink`: a local stand-in for the Expo push API that prints what a phone would show;
- :mod:`.local_console`: the operator console served on 127.0.0.1 with a ready-made account;
- :mod:`.demonstration`: ``yoked dev --once``, one run of every job at any hour of the day;
- :mod:`.demo_data`: the small, deterministic demo population ``--seed`` and ``--once`` load.
"""
