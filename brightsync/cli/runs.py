"""Runs and their state: sync, status, pause, resume, resync and why."""

from __future__ import annotations

import time

import click

from brightsync.cli.root import act, echo_json


@click.command("sync")
@click.argument("user_id", type=int)
@click.option("--service", default=None, help="email, calendar, contacts or tasks (default: all)")
@click.option("--queue", "queued", is_flag=True, help="Queue it for a worker (sync now) instead.")
def sync_cmd(user_id: int, service: str | None, queued: bool) -> None:
    """Run one sync in the foreground (waits if a worker is running one)."""
    from brightsync.db import session_scope
    from brightsync.domains import run_service
    from brightsync.models import User
    from brightsync.ops import actions, hooks, logs

    if queued:
        echo_json({"userId": user_id, "services": act(lambda: actions.sync_now(user_id, service))})
        return
    with session_scope() as s:
        u = s.get(User, user_id)
        if u is None:
            raise click.ClickException(f"no user {user_id}")
        services = [service] if service else list(u.services or [])
        org_id = u.org_id
    for svc in services:
        with logs.bound(org_id=org_id, user_id=user_id, service=svc):
            started = time.monotonic()
            for _ in range(60):
                result = run_service(user_id, svc)
                if result.get("status") != "busy":
                    break
                time.sleep(1)
            hooks.run_finished(user_id, svc, result, None, time.monotonic() - started)
        echo_json({"service": svc, **result})


@click.command("status")
@click.option("--org", "org_id", type=int, help="One organisation in detail.")
@click.option("--user", "user_id", type=int, help="One user's services.")
def status_cmd(org_id: int | None, user_id: int | None) -> None:
    """Health of every organisation, or of one organisation or user (same as the admin API)."""

    from brightsync.db import session_scope
    from brightsync.domains import ORG_PANELS
    from brightsync.models import Organisation, User
    from brightsync.ops import status
    from brightsync.web.admin import user_out

    with session_scope() as s:
        if user_id is not None:
            u = s.get(User, user_id)
            if u is None:
                raise click.ClickException(f"no user {user_id}")
            echo_json(user_out(s, u))
        elif org_id is not None:
            o = s.get(Organisation, org_id)
            if o is None:
                raise click.ClickException(f"no organisation {org_id}")
            echo_json(status.org_summary(s, o, ORG_PANELS))
        else:
            echo_json(status.overview(s))


@click.command("pause")
@click.argument("user_id", type=int)
@click.option("--service", default=None, help="Only this service (default: the whole user).")
def pause_cmd(user_id: int, service: str | None) -> None:
    """Pause a user or one service: no run starts until resumed."""
    from brightsync.ops import actions

    echo_json(act(lambda: actions.set_paused(user_id, service, True)))


@click.command("resume")
@click.argument("user_id", type=int)
@click.option("--service", default=None, help="Only this service (default: the whole user).")
def resume_cmd(user_id: int, service: str | None) -> None:
    """Resume a user (and its services) or one service, and queue a run."""
    from brightsync.ops import actions

    echo_json(act(lambda: actions.set_paused(user_id, service, False)))


@click.command("resync")
@click.argument("user_id", type=int)
@click.option("--service", default=None)
def resync_cmd(user_id: int, service: str | None) -> None:
    """Re-read a user's mailbox from scratch (claims keep it from doubling anything)."""
    from brightsync.ops import actions

    echo_json(act(lambda: actions.resync(user_id, service)))


@click.command("why")
@click.argument("org_id", type=int)
@click.argument("kind")
@click.argument("key")
def why_cmd(org_id: int, kind: str, key: str) -> None:
    """Why a record was (or was not) synced, e.g. `why 1 email '<id@host>'`."""
    from brightsync.db import session_scope
    from brightsync.domains import EXPLAINERS
    from brightsync.ops import why

    with session_scope() as s:
        try:
            found = why.explain(s, EXPLAINERS, org_id, kind, key)
        except why.UnknownKind:
            raise click.ClickException(
                f"no explanations for {kind!r}; known: {', '.join(sorted(EXPLAINERS))}"
            ) from None
    if found is None:
        raise click.ClickException(f"nothing is known of that {kind} in organisation {org_id}")
    echo_json(found)
