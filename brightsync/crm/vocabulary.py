"""The connector's own words, as sync has seen them, kept per organisation (one org, one
connector) in `Organisation.crm_vocabulary`: e.g. ``{"taskStatus": {"completed":
"Completed"}}``, so a write sends the value the CRM itself uses (a CRM with a picklist
refuses any other). Durable and shared by every worker; forgotten when the org's connector
changes (web/admin.py)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select

from brightsync.db import session_scope
from brightsync.models import Organisation

TASK_STATUS = "taskStatus"


def known_words(org_id: int, vocabulary: str) -> dict[str, str]:
    """What was seen for `vocabulary` (our value -> the CRM's word), empty when nothing."""
    with session_scope() as s:
        stored = s.scalar(select(Organisation.crm_vocabulary).where(Organisation.id == org_id))
    return dict((stored or {}).get(vocabulary) or {})


def remember_words(org_id: int, vocabulary: str, words: Mapping[str, str]) -> None:
    """Merge newly seen words into the org's vocabulary (the latest one wins). Seldom called:
    only when a run reads a word it did not know."""
    with session_scope() as s:
        org = s.scalar(select(Organisation).where(Organisation.id == org_id).with_for_update())
        if org is None:
            return
        stored = dict(org.crm_vocabulary or {})
        merged = {**(stored.get(vocabulary) or {}), **words}
        if merged != stored.get(vocabulary):
            org.crm_vocabulary = {**stored, vocabulary: merged}
