"""Reading a mailbox's email delta page by page: the one loop the live run and review mode
share.

The position is the run's sync_state: the delta token (`updated_token`) and, inside a long
read, the next page (`resume_token`). Without a token the read starts a new delta (the last
`initialDays` of mail); that starting position is stored in either mode, as it consumes
nothing. With `keep_position` (live) every page handed to the reader checkpoints the next
one, fenced on the run's lease: a crash or a time limit resumes there. Review mode reads
without moving the position, so the first live run reads the same pages again.

A dead position restarts the read: an expired page position from the delta token it came
from, an expired delta token from a new delta. The reader is told (`restart()`), since it will
see messages again.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from sqlalchemy import select

from brightsync.clients.aurinko import SyncTokenExpired
from brightsync.db import session_scope
from brightsync.email.context import EmailContext
from brightsync.models import SyncState
from brightsync.sync.run import RunContext

log = logging.getLogger(__name__)

DEFAULT_INITIAL_DAYS = 14
ATTEMPTS = 3  # reads of the delta per run (each dead position costs one)


class PageReader(Protocol):
    def read(self, records: list[Any]) -> None:
        """Handle one page's messages (plan it; apply the plan in a live run)."""

    def progress(self) -> dict[str, int]:
        """What the run shows while it reads."""

    def restart(self) -> None:
        """The delta is read again from an earlier position."""


def positions(state_id: int) -> tuple[str | None, str | None]:
    """(delta token, page position inside the current read) of a run's sync_state."""
    with session_scope() as s:
        row = s.execute(
            select(SyncState.updated_token, SyncState.resume_token).where(SyncState.id == state_id)
        ).one()
    return row.updated_token, row.resume_token


def read_delta(
    ctx: EmailContext, run: RunContext, reader: PageReader, *, keep_position: bool
) -> None:
    """Hand every page of the mailbox's email delta to `reader`, from the stored position."""
    for _attempt in range(ATTEMPTS):
        token, resume = positions(run.state_id)
        if token is None:
            days = int(ctx.settings["email"].get("initialDays", DEFAULT_INITIAL_DAYS))
            tokens = ctx.aurinko.start_sync("email", days_within=days, body_type="html")
            token, resume = tokens.updated_token, None
            run.checkpoint(updated_token=token, resume_token=None)
            ctx.count("full_syncs")
        elif resume:
            ctx.count("resumed")
        try:
            for page in ctx.aurinko.delta_pages("email", "updated", token, page_token=resume):
                reader.read(page.records)
                if keep_position:
                    # Checkpoint every handled page: a crash or a time limit resumes at the next.
                    if page.next_delta_token:
                        run.checkpoint(updated_token=page.next_delta_token, resume_token=None)
                    else:
                        run.checkpoint(resume_token=page.next_page_token)
                run.renew(progress=reader.progress())
            return
        except SyncTokenExpired:
            reader.restart()
            if resume:
                # The saved position is dead: run again from the delta token it came from.
                log.info("resume position of user %s expired; re-reading the delta", ctx.user_id)
                run.checkpoint(resume_token=None)
                ctx.count("resume_restarts")
                continue
            # Dead token: start over. Claims make the full re-read harmless.
            log.info("email delta token of user %s expired; restarting the sync", ctx.user_id)
            run.checkpoint(updated_token=None, resume_token=None)
            ctx.count("token_restarts")
