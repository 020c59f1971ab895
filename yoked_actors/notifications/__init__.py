"""Push notifications: what each user has pending becomes at most one push per run.

- :mod:`.quiet_hours` and :mod:`.digest` decide (pure functions over plain values);
- :mod:`.expo` talks to the Expo push API (batches, gzip, rate limit, retries) or, in
  development, only logs what it would send;
- :mod:`.batching` is the database work: claim, plan, record deliveries, poll receipts.

The actors that run these every few minutes are in :mod:`yoked_actors.actors.notifications`.
"""
