"""Daily product metrics: set-based queries over one UTC day, stored in `daily_metrics`.

:mod:`.store` holds the SQL (one counting statement per family of metrics, the upsert, the
read); :mod:`.metrics` derives the metrics from the counts (pure); :mod:`.daily` computes and
stores one day. docs/analytics.md defines every metric.
"""
