"""`brightsync sandbox crm`: the reference CRM connector from the command line."""

from __future__ import annotations

import click
from werkzeug.serving import run_simple

from brightsync.sandbox.crm import create_crm_app
from brightsync.sandbox.crm.breakages import BREAKAGES, PROFILES
from brightsync.sandbox.crm.picklists import TASK_STATUS_PROFILES
from brightsync.sandbox.crm.state import DEFAULT_TOKEN
from brightsync.sandbox.server import MAX_LATENCY_MS


@click.command("crm")
@click.option("--port", default=8002, show_default=True, type=int)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--db", "db_path", default=None, help="SQLite file (default: in memory)")
@click.option("--token", default=DEFAULT_TOKEN, show_default=True, help="bearer token")
@click.option("--basic", default=None, metavar="USER:PASSWORD", help="also accept Basic auth")
@click.option("--paging", type=click.Choice(["token", "offset"]), default="token")
@click.option("--omit-nulls", is_flag=True, help="leave empty optional fields out of answers")
@click.option(
    "--latency-ms",
    type=click.FloatRange(0, MAX_LATENCY_MS),
    default=0.0,
    show_default=True,
    help="hold every API answer this long, like a real CRM across a network",
)
@click.option(
    "--task-statuses",
    type=click.Choice(sorted(TASK_STATUS_PROFILES)),
    default=None,
    help="task status accepts only this CRM's picklist words (400 otherwise)",
)
@click.option(
    "--user-calendars",
    default=None,
    metavar="NAME,NAME",
    help="every user has these calendars (the first is the primary): GET /calendars",
)
@click.option("--child-events", is_flag=True, help="store one child event per attendee")
@click.option(
    "--break",
    "breakages",
    multiple=True,
    type=click.Choice(sorted(BREAKAGES)),
    help="switch on a deliberate contract violation (repeatable)",
)
@click.option(
    "--profile",
    type=click.Choice(sorted(PROFILES)),
    default=None,
    help="play a connector as providers build them (breakages.PROFILES), e.g. partial",
)
def crm_command(
    port: int,
    host: str,
    db_path: str | None,
    token: str,
    basic: str | None,
    paging: str,
    omit_nulls: bool,
    latency_ms: float,
    task_statuses: str | None,
    user_calendars: str | None,
    child_events: bool,
    breakages: tuple[str, ...],
    profile: str | None,
) -> None:
    """Run the reference CRM connector (mount on `brightsync sandbox`)."""
    user_pass = tuple(basic.split(":", 1)) if basic else None
    if user_pass is not None and len(user_pass) != 2:
        raise click.BadParameter("use USER:PASSWORD", param_hint="--basic")
    app = create_crm_app(
        db_path=db_path,
        token=token or None,
        basic=user_pass,  # type: ignore[arg-type]
        breakages=frozenset(breakages) | PROFILES.get(profile or "", frozenset()),
        paging=paging,
        omit_nulls=omit_nulls,
        latency_ms=latency_ms,
        task_statuses=task_statuses,
        user_calendars=[n for n in (user_calendars or "").split(",") if n.strip()] or None,
        child_events=child_events,
    )
    click.echo(f"reference CRM on http://{host}:{port}  (token {token!r}; contract /openapi.json)")
    run_simple(host, port, app, threaded=True)
