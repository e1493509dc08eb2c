"""Instants as BrightSync reads and writes them: one parser and one formatter for every room."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_instant(value: object) -> datetime | None:
    """An ISO-8601 instant (`Z` or an offset; naive means UTC); None for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def utc_stamp(value: datetime) -> str:
    """An instant as compact UTC text, whole seconds and `Z` (2024-05-01T10:00:00Z): the CRM
    cursor, event times compared across providers."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def iso(value: datetime | None) -> str | None:
    """An instant for a JSON answer; None stays None."""
    return value.isoformat() if value is not None else None
