"""`brightsync db upgrade`: Alembic, configured in code so no alembic.ini has to be found."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from brightsync.config import get_settings


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", get_settings().database_url.replace("%", "%%"))
    return cfg


def upgrade(revision: str = "head") -> None:
    command.upgrade(alembic_config(), revision)


def current_revision() -> str | None:
    from alembic.runtime.migration import MigrationContext

    from brightsync.db import get_engine

    with get_engine().connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
