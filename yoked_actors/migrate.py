"""Schema migrations (Alembic), callable from the CLI, `yoked dev` and the test fixtures."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """Alembic's config for this package; ``url`` overrides DATABASE_URL."""
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    if url:
        config.attributes["url"] = url
    return config


def upgrade(url: str | None = None, revision: str = "heads") -> None:
    """Bring the database to ``revision``.

    Each domain keeps its own Alembic branch off the contract migration, so "heads" (all of
    them) is the normal target.
    """
    command.upgrade(alembic_config(url), revision)


def revisions(url: str) -> tuple[set[str], set[str], set[str]]:
    """(the revisions recorded in the database at ``url``, the heads of the migrations, the
    heads not applied yet). A head another recorded revision depends on counts as applied."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    script = ScriptDirectory.from_config(alembic_config(url))
    heads = set(script.get_heads())
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            current = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    applied = {r.revision for r in script.revision_map.iterate_revisions(tuple(current), "base")}
    return current, heads, heads - applied
