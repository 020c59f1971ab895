"""Push notifications: what each user has pending becomes at most one push per run.

- :mod:`.quiet_hours` and :mod:`.digest` decide what a user's rows become, and :mod:`.outcomes`
  what push results and receipts mean (pure functions over plain values);
- :mod:`.push` defines a provider and its values; :mod:`.expo` talks to the Expo push API
  (batches, gzip, rate limit, retries); :mod:`.provider` picks Expo or, in development, a
  provider that only logs;
- :mod:`.batching` runs the pipeline (claim with :mod:`.claim`, send, record), :mod:`.receipts`
  polls receipts, and :mod:`.store` holds all their SQL.

The actors that run these every few minutes are in :mod:`yoked_actors.actors.notifications`;
docs/notifications.md describes the whole flow.
"""
