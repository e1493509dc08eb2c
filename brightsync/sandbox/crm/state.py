"""What one reference-CRM app holds (its settings, records and test controls), and `crm()`,
which finds them for the request being handled."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from brightsync.sandbox.crm.faults import Control
from brightsync.sandbox.crm.store import Store

DEFAULT_TOKEN = "sandbox-crm-token"

# The user every fresh (or reset) CRM has: `GET /users/me` answers it.
DEFAULT_USER = {
    "name": "Sandbox Admin",
    "email": "admin@sandbox-crm.example",
    "orgId": "org_1",
    "timezone": "UTC",
}

# Where an app keeps its Crm (Flask's place for what extensions hang on an app).
EXTENSION = "brightsync_crm"


@dataclass(frozen=True)
class Settings:
    """How a connector answers, fixed when its app is made (see `create_crm_app`)."""

    token: str | None
    basic: tuple[str, str] | None
    breakages: frozenset[str]
    paging: str  # "token" or "offset"
    omit_nulls: bool
    task_statuses: tuple[str, ...] | None = None  # a task-status picklist (see picklists)
    user_calendars: tuple[str, ...] | None = None  # several calendars per user (calendars)
    child_events: bool = False  # one child event per attendee (calendars)


@dataclass
class Crm:
    """One app's connector: settings, records and test controls."""

    settings: Settings
    store: Store
    control: Control

    def reset(self) -> None:
        """Forget every record; only the default user is left."""
        self.store.clear()
        self.store.insert("users", dict(DEFAULT_USER))


def crm() -> Crm:
    """The connector of the app handling the current request."""
    found: Crm = current_app.extensions[EXTENSION]
    return found


def broken(breakage: str) -> bool:
    """Whether the current app has this deliberate contract violation switched on."""
    return breakage in crm().settings.breakages
