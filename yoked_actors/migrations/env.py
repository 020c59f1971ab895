"""Alembic environment: runs the migrations against the configured database."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

import yoked_actors.models  # noqa: F401  (registers every table on Base.metadata)
from yoked_actors.db import Base
from yoked_actors.settings import get_settings

config = context.config
url = config.attributes.get("url") or get_settings().require_database_url()

connectable = create_engine(url, poolclass=pool.NullPool)
with connectable.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()
connectable.dispose()
