"""The embedded broker: kombu's SQLAlchemy transport, polling fast enough to feel instant.

kombu's SQL transport sleeps `polling_interval` (1 s) whenever every queue is empty, so a
webhook waited half a second on average before a worker even saw its task. The interval is
read from the transport options, but kombu also hands every transport option to
`create_engine()`, which rejects it. This subclass keeps our own options away from the
engine, polls every `POLLING_INTERVAL` seconds by default, and puts SQLite in WAL mode with a
busy timeout so the faster polling never makes publishers fail with "database is locked".

It is registered as the `sqla` transport when the Celery app is imported, so the documented
`sqla+sqlite:///…` URLs keep working unchanged.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import sqlalchemy as kombu_sql
from sqlalchemy import event

# An empty poll of the three queues costs three tiny SQLite transactions; ten a second is
# negligible next to a sync and brings pick-up latency to ~50 ms on average.
POLLING_INTERVAL = 0.1
# Transport options that are ours, not create_engine()'s.
OWN_OPTIONS = ("polling_interval",)


class Channel(kombu_sql.Channel):
    def _engine_from_config(self) -> Any:
        conninfo = self.connection.client
        saved = conninfo.transport_options
        conninfo.transport_options = {k: v for k, v in saved.items() if k not in OWN_OPTIONS}
        try:
            engine = super()._engine_from_config()
        finally:
            conninfo.transport_options = saved
        if engine.dialect.name == "sqlite":

            @event.listens_for(engine, "connect")
            def _pragmas(dbapi_connection: Any, _record: Any) -> None:
                cursor = dbapi_connection.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.close()

        return engine


class Transport(kombu_sql.Transport):
    Channel = Channel
    polling_interval = POLLING_INTERVAL


def register() -> None:
    """Make `sqla+…` broker URLs use this transport in this process."""
    TRANSPORT_ALIASES["sqla"] = "brightsync.broker:Transport"
