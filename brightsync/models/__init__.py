"""All models, importable from one place (Alembic's env reads Base.metadata here)."""

from brightsync.models.base import Base, utcnow
from brightsync.models.calendar import MeetingClaim, MeetingCopy
from brightsync.models.connect import ConnectLink, ConnectState
from brightsync.models.creates import CreateIntent
from brightsync.models.duplicates import DUPLICATE_STATES, PossibleDuplicate
from brightsync.models.email import (
    EmailClaim,
    EmailParticipant,
    EmailSighting,
    ThreadAlias,
    ThreadKey,
    UnmatchedItem,
)
from brightsync.models.ops import MetricCounter, RunStat
from brightsync.models.org import Organisation, Subscription, User
from brightsync.models.review import HELD_DECISIONS, MODES, HeldDecision, ReviewReport
from brightsync.models.sync import CacheEntry, Lock, Notification, ObjectLink, RateWindow, SyncState

__all__ = [
    "DUPLICATE_STATES",
    "HELD_DECISIONS",
    "MODES",
    "Base",
    "CacheEntry",
    "ConnectLink",
    "ConnectState",
    "CreateIntent",
    "EmailClaim",
    "EmailParticipant",
    "EmailSighting",
    "HeldDecision",
    "Lock",
    "MeetingClaim",
    "MeetingCopy",
    "MetricCounter",
    "Notification",
    "ObjectLink",
    "Organisation",
    "PossibleDuplicate",
    "RateWindow",
    "ReviewReport",
    "RunStat",
    "Subscription",
    "SyncState",
    "ThreadAlias",
    "ThreadKey",
    "UnmatchedItem",
    "User",
    "utcnow",
]
