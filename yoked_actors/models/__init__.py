"""Every table of the service, imported so that ``Base.metadata`` knows them all.

One module per domain; add yours to the list below (Alembic and the test fixtures read
``Base.metadata`` through this package).
"""

from yoked_actors.models import (  # noqa: F401  (imported for their tables)
    analytics,  # daily_metrics
    console,  # console users, sessions, audit
    contract,  # the API's tables (docs/data-contract.md)
    matching,  # generation runs, daily dispatches
    moderation,  # results, strikes
    notifications,  # push deliveries
    runs,  # run history, idempotency keys, outbox
    scheduling,  # fire ledger
    system,  # pings
)
