"""The migrations and the models agree, on both backends, and the history has one head.

Several changes add migrations at once; this catches a model edited without its migration
and two migrations that forked from the same parent.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from brightsync.migrate import alembic_config


def test_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"migration history forked: heads {heads}"


def test_schema_matches_models(backend) -> None:
    from brightsync.db import get_engine
    from brightsync.models import Base

    with get_engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ on {backend.name}: {diff}"
