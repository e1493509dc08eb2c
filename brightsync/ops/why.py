"""'Why?' for any record an organisation synced: one explainer per kind, found by name.

This module knows no kind: `brightsync.domains` holds the table (kind -> explainer, and a
hint of what the key is), and the admin API, CLI and dashboard pass it to `explain`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

# function(session, org_id, key) -> explanation dict, or None when nothing is known.
Explainer = Callable[[Session, int, str], dict[str, Any] | None]


@dataclass(frozen=True)
class Why:
    """A kind's explainer, and what its key is (shown to people who ask)."""

    explain: Explainer
    key_hint: str


class UnknownKind(LookupError):
    pass


def explain(
    session: Session, kinds: Mapping[str, Why], org_id: int, kind: str, key: str
) -> dict[str, Any] | None:
    """Explain the `kind` record known by `key` in the organisation (`kinds`: the table)."""
    why = kinds.get(kind)
    if why is None:
        raise UnknownKind(kind)
    found = why.explain(session, org_id, key)
    return None if found is None else {"kind": kind, "key": key, **found}
