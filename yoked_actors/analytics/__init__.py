"""Daily product metrics: set-based queries over one UTC day, stored in `daily_metrics`.

:mod:`.queries` holds the SQL (one statement per family of metrics); :mod:`.store` computes a day
and upserts it. docs/analytics.md defines every metric.
"""
