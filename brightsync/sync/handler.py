"""The run of one two-way domain for one user, shared by the calendar, contacts and tasks
handlers (wired in `brightsync/domains.py`): load the user's context, build the domain's adapter,
run the engine with the domain's settings, then store what the run's clients learned."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from brightsync.crm.context import CrmContext, load_context
from brightsync.sync import engine
from brightsync.sync.adapter import Adapter
from brightsync.sync.links import Lease, Scope
from brightsync.sync.plan import Pairer
from brightsync.sync.run import RunContext
from brightsync.sync.status import Settings

C = TypeVar("C", bound=CrmContext)
A = TypeVar("A", bound=Adapter)

# (context, adapter, scope, lease) -> the domain's pairer, after any work it needs first
PairerFor = Callable[[Any, Any, Scope, Lease], Pairer | None]


def run_twoway(
    user_id: int,
    run: RunContext,
    domain: str,
    build: Callable[[C], A],
    *,
    context: type[C],
    identity: Sequence[str],
    pairer: PairerFor | None = None,
) -> None:
    """One two-way run of `domain` (its settings section holds `direction` and `conflict`);
    in review mode (`run.review`) the engine plans and records, and changes nothing."""
    ctx = load_context(user_id, context)
    try:
        options = ctx.settings[domain]
        scope = Scope(ctx.org_id, ctx.user_id, domain)
        lease = Lease(run.state_id, run.token)
        adapter = build(ctx)
        engine.sync(
            adapter,
            scope,
            Settings(direction=options["direction"], conflict=options["conflict"]),
            lease,
            identity=identity,
            review=run.review,
            pairer=pairer(ctx, adapter, scope, lease) if pairer else None,
            count=run.count,
            on_progress=lambda counts: run.renew(progress=counts),
        )
    finally:
        ctx.close()
        for key, n in ctx.counters.items():
            run.count(key, n)
