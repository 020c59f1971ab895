"""Every table of the service, imported so that ``Base.metadata`` knows them all.

One module per domain; add yours to the list below (Alembic and the test fixtures read
``Base.metadata`` through this package).
"""

from yoked_actors.models import analytics  # noqa: F401  (daily_metrics: issue 8)
from yoked_actors.models import contract  # noqa: F401  (the API's tables, DESIGN.md)
from yoked_actors.models import matching  # noqa: F401  (generation runs: issue 5)
from yoked_actors.models import moderation  # noqa: F401  (results, strikes: issue 6)
from yoked_actors.models import notifications  # noqa: F401  (push deliveries, issue 7)
from yoked_actors.models import runs  # noqa: F401  (run history, idempotency, outbox: issue 3)
from yoked_actors.models import scheduling  # noqa: F401  (fire ledger, daily dispatches: issue 4)
from yoked_actors.models import system  # noqa: F401  (service plumbing: pings)
