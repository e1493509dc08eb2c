"""`brightsync keys rotate`: re-encrypt every stored secret with the first key.

Secrets live in columns whose name ends in `_enc` (a convention, so a column added later is
rotated too). Each row is rewritten with a conditional UPDATE (only if it still holds the token
that was read), in small transactions: safe while the service runs, and safe to re-run — rows
already under the first key are left alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Column, Table, select, update

from brightsync.config import ConfigError
from brightsync.crypto import is_current, reencrypt
from brightsync.db import session_scope
from brightsync.models import Base

BATCH = 200


@dataclass
class RotationReport:
    rotated: int = 0
    current: int = 0
    unreadable: list[str] = field(default_factory=list)  # "table.column #id"

    def as_dict(self) -> dict[str, object]:
        return {
            "rotated": self.rotated,
            "alreadyCurrent": self.current,
            "unreadable": self.unreadable,
        }


def encrypted_columns() -> list[tuple[Table, Column]]:
    return [
        (table, column)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_enc")
    ]


def rotate_stored_secrets(batch: int = BATCH) -> RotationReport:
    report = RotationReport()
    for table, column in encrypted_columns():
        (pk,) = table.primary_key.columns
        last = None
        while True:
            query = select(pk, column).where(column.is_not(None)).order_by(pk).limit(batch)
            if last is not None:
                query = query.where(pk > last)
            with session_scope() as s:
                rows = s.execute(query).all()
                for row_id, token in rows:
                    if is_current(token):
                        report.current += 1
                        continue
                    try:
                        fresh = reencrypt(token)
                    except ConfigError:
                        report.unreadable.append(f"{table.name}.{column.name} #{row_id}")
                        continue
                    # Conditional: a secret changed meanwhile (a PATCH) is already current.
                    changed = s.execute(
                        update(table).where(pk == row_id, column == token).values({column: fresh})
                    ).rowcount
                    report.rotated += changed
                    report.current += 1 - changed
            if len(rows) < batch:
                break
            last = rows[-1][0]
    return report
