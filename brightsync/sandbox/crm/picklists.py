"""Picklists: the reference CRM can play a CRM whose task `status` accepts only its own words
(as Salesforce's does), answering 400 for any other value. Off by default (any string goes).

Chosen when the app is made (`create_crm_app(task_statuses="salesforce")`, `--task-statuses`)
or at run time with `POST /_control/settings {"taskStatuses": "salesforce" | [...] | null}`;
a reset goes back to the app's own choice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: Named task-status picklists of well-known CRMs.
TASK_STATUS_PROFILES: dict[str, tuple[str, ...]] = {
    "salesforce": (
        "Not Started",
        "In Progress",
        "Completed",
        "Deferred",
        "Waiting on someone else",
    ),
    "hubspot": ("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED"),
}


def task_statuses(value: str | Sequence[str] | None) -> tuple[str, ...] | None:
    """A picklist from a profile name or a list of words (None: no picklist); ValueError else."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in TASK_STATUS_PROFILES:
            raise ValueError(
                f"unknown task-status profile {value!r}; known: {sorted(TASK_STATUS_PROFILES)}"
            )
        return TASK_STATUS_PROFILES[value]
    words = tuple(value)
    if not words or not all(isinstance(w, str) and w for w in words):
        raise ValueError("taskStatuses is a profile name, a non-empty list of words, or null")
    return words


def refused_status(data: dict[str, Any], picklist: tuple[str, ...] | None) -> str | None:
    """Why a task body's status is refused by the picklist (None: accepted or absent)."""
    status = data.get("status")
    if picklist is None or status is None or status in picklist:
        return None
    return f"status {status!r} is not one of the picklist values {list(picklist)}"
