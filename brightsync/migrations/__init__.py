"""Alembic migrations; `brightsync db upgrade` runs them (see brightsync/migrate.py)."""
