"""Publishing email claim work by task name, so no module that publishes imports the task
module (the run's hand-out, deferrals, hand-overs, waits and the sweeper all send through
here). Routing (the "sync" queue) comes from celeryconfig's task routes, as for any task."""

from __future__ import annotations

from sqlalchemy.orm import Session

from brightsync.celery import app
from brightsync.db import after_commit

PROCESS_CLAIMS_TASK = "brightsync.email.process_claims"


def publish_claims(claim_ids: list[int], owner: str | None = None, countdown: float = 0) -> None:
    """Queue `process_claims` for these claims; `owner` is the lease they were passed to."""
    app.send_task(PROCESS_CLAIMS_TASK, args=[claim_ids, owner], countdown=countdown)


def publish_after_commit(
    session: Session, claim_ids: list[int], owner: str | None = None, countdown: float = 0
) -> None:
    """Queue the claims' task once `session` commits: the task must see what it committed."""
    after_commit(session, lambda: publish_claims(claim_ids, owner, countdown))
