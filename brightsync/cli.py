"""The `brightsync` command."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Any

import click

from brightsync.config import ConfigError, get_settings


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def cli(verbose: bool) -> None:
    """BrightSync: mailbox <-> CRM sync engine."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from brightsync.ops import hooks, logs

    logs.configure()  # LOG_FORMAT=json, and secrets scrubbed either way
    hooks.install()
    get_settings()  # validate the environment before doing anything


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (Alembic)."""
    from brightsync.migrate import current_revision, upgrade

    upgrade(revision)
    click.echo(f"database at revision {current_revision()}")


@cli.group()
def org() -> None:
    """Organisations."""


@org.command("create")
@click.option("--name", required=True)
@click.option("--domain", "domains", multiple=True, required=True, help="Repeat per domain.")
@click.option("--crm-url", required=True, help="Base URL of the CRM connector.")
@click.option("--crm-token", help="Bearer token of the connector.")
@click.option("--crm-username")
@click.option("--crm-password")
@click.option("--settings", "settings_json", default="{}", help="Org settings as JSON.")
@click.option("--mode", type=click.Choice(["live", "review"]), default="live", show_default=True)
def org_create(
    name: str,
    domains: tuple[str, ...],
    crm_url: str,
    crm_token: str | None,
    crm_username: str | None,
    crm_password: str | None,
    settings_json: str,
    mode: str,
) -> None:
    """Create an organisation (same validation as POST /api/v1/orgs)."""
    from brightsync.web import schemas
    from brightsync.web.admin import create_org

    crm: dict[str, Any] = {"baseUrl": crm_url, "authType": "bearer" if crm_token else "basic"}
    if crm_token:
        crm["token"] = crm_token
    else:
        crm.update(username=crm_username, password=crm_password)
    try:
        settings = json.loads(settings_json)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--settings") from None
    data = _validate(
        schemas.OrgCreate(),
        {"name": name, "domains": list(domains), "crm": crm, "settings": settings, "mode": mode},
    )
    _echo_json(create_org(data))


@cli.group()
def user() -> None:
    """Users (mailboxes)."""


@user.command("add")
@click.option("--org", "org_id", type=int, required=True)
@click.option("--email", required=True)
@click.option("--account-id", required=True, help="Aurinko account id.")
@click.option("--token", required=True, help="Aurinko access token of the account.")
@click.option("--crm-user-id")
@click.option("--service", "services", multiple=True, default=["email"], show_default=True)
@click.option("--mode", type=click.Choice(["live", "review"]), default="live", show_default=True)
def user_add(
    org_id: int,
    email: str,
    account_id: str,
    token: str,
    crm_user_id: str | None,
    services: tuple[str, ...],
    mode: str,
) -> None:
    """Register a mailbox; a worker then creates its Aurinko subscriptions."""
    from brightsync.web import schemas
    from brightsync.web.admin import QueueUnavailable, create_user

    data = _validate(
        schemas.UserCreate(),
        {
            "email": email,
            "aurinkoAccountId": account_id,
            "aurinkoAccessToken": token,
            "crmUserId": crm_user_id,
            "services": list(services),
            "mode": mode,
        },
    )
    try:
        out, error = create_user(org_id, data)
    except QueueUnavailable as exc:
        raise click.ClickException(f"broker unavailable, nothing registered: {exc}") from None
    if error:
        raise click.ClickException(error)
    _echo_json(out)


def _validate(schema: Any, data: dict[str, Any]) -> dict[str, Any]:
    from marshmallow import ValidationError

    try:
        return schema.load({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        raise click.ClickException(f"invalid input: {json.dumps(exc.messages)}") from None


@cli.command("sync")
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
        _echo_json(
            {"userId": user_id, "services": _act(lambda: actions.sync_now(user_id, service))}
        )
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
        _echo_json({"service": svc, **result})


def _act(action: Any) -> Any:
    from brightsync.ops.actions import ActionError

    try:
        return action()
    except ActionError as exc:
        raise click.ClickException(exc.message) from None


@cli.command("status")
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
            _echo_json(user_out(s, u))
        elif org_id is not None:
            o = s.get(Organisation, org_id)
            if o is None:
                raise click.ClickException(f"no organisation {org_id}")
            _echo_json(status.org_summary(s, o, ORG_PANELS))
        else:
            _echo_json(status.overview(s))


@cli.group()
def review() -> None:
    """Review mode, the pre-sync report, held deletions and possible duplicates."""


def _target(org_id: int | None, user_id: int | None) -> dict[str, int]:
    if (org_id is None) == (user_id is None):
        raise click.UsageError("give one of --org or --user")
    return {"org_id": org_id} if org_id is not None else {"user_id": user_id}  # type: ignore


def _review_call(fn: Any, **kwargs: Any) -> Any:
    from brightsync.review.mode import ModeError

    try:
        return fn(**kwargs)
    except (ModeError, LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@review.command("report")
@click.option("--org", "org_id", type=int)
@click.option("--user", "user_id", type=int)
def review_report(org_id: int | None, user_id: int | None) -> None:
    """What the review runs would do (same as GET …/review)."""
    from brightsync.db import session_scope
    from brightsync.review.mode import report_for

    with session_scope() as s:
        _echo_json(report_for(s, **_target(org_id, user_id)))


@review.command("start")
@click.option("--org", "org_id", type=int)
@click.option("--user", "user_id", type=int)
def review_start(org_id: int | None, user_id: int | None) -> None:
    """Put an organisation (all its users) or a user in review mode."""
    from brightsync.review.mode import set_mode

    _echo_json(
        {
            "mode": "review",
            "users": _review_call(set_mode, mode="review", **_target(org_id, user_id)),
        }
    )


@review.command("activate")
@click.option("--org", "org_id", type=int)
@click.option("--user", "user_id", type=int)
def review_activate(org_id: int | None, user_id: int | None) -> None:
    """Switch to live and queue runs: they do the reviewed work."""
    from brightsync.review.mode import activate

    _echo_json(_review_call(activate, **_target(org_id, user_id)))


@review.command("held")
@click.option("--org", "org_id", type=int, required=True)
def review_held(org_id: int) -> None:
    """Deletions the mass-deletion guard held."""
    from brightsync.db import session_scope
    from brightsync.review.held import list_held

    with session_scope() as s:
        items, total = list_held(s, org_id, 500)
    _echo_json({"items": items, "total": total})


@review.command("decide")
@click.option("--org", "org_id", type=int, required=True)
@click.argument("decision", type=click.Choice(["approve", "reject"]))
@click.argument("ids", type=int, nargs=-1, required=True)
def review_decide(org_id: int, decision: str, ids: tuple[int, ...]) -> None:
    """Approve or reject held deletions (carried out by the next run)."""
    from brightsync.review.held import decide

    _echo_json(_review_call(decide, org_id=org_id, link_ids=list(ids), decision=decision))


@review.command("duplicates")
@click.option("--org", "org_id", type=int, required=True)
@click.option("--state", type=click.Choice(["open", "approved", "rejected"]), default="open")
def review_duplicates(org_id: int, state: str) -> None:
    """Possible duplicate contacts."""
    from brightsync.db import session_scope
    from brightsync.review.duplicates import list_possible_duplicates

    with session_scope() as s:
        items, total = list_possible_duplicates(s, org_id, state, 500)
        _echo_json({"items": items, "total": total})


@review.command("duplicate")
@click.option("--org", "org_id", type=int, required=True)
@click.argument("pair_id", type=int)
@click.argument("decision", type=click.Choice(["approved", "rejected", "open"]))
def review_duplicate(org_id: int, pair_id: int, decision: str) -> None:
    """Decide a possible duplicate pair: approved (same person), rejected (two people)."""
    from brightsync.db import session_scope
    from brightsync.review.duplicates import decide_possible_duplicate, duplicate_out

    with session_scope() as s:
        row = decide_possible_duplicate(s, org_id, pair_id, decision)
        if row is None:
            raise click.ClickException(f"no pair {pair_id} in organisation {org_id}")
        _echo_json(duplicate_out(row))


@cli.command("pause")
@click.argument("user_id", type=int)
@click.option("--service", default=None, help="Only this service (default: the whole user).")
def pause_cmd(user_id: int, service: str | None) -> None:
    """Pause a user or one service: no run starts until resumed."""
    from brightsync.ops import actions

    _echo_json(_act(lambda: actions.set_paused(user_id, service, True)))


@cli.command("resume")
@click.argument("user_id", type=int)
@click.option("--service", default=None, help="Only this service (default: the whole user).")
def resume_cmd(user_id: int, service: str | None) -> None:
    """Resume a user (and its services) or one service, and queue a run."""
    from brightsync.ops import actions

    _echo_json(_act(lambda: actions.set_paused(user_id, service, False)))


@cli.command("resync")
@click.argument("user_id", type=int)
@click.option("--service", default=None)
def resync_cmd(user_id: int, service: str | None) -> None:
    """Re-read a user's mailbox from scratch (claims keep it from doubling anything)."""
    from brightsync.ops import actions

    _echo_json(_act(lambda: actions.resync(user_id, service)))


@cli.command("why")
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
    _echo_json(found)


@cli.group()
def webhook() -> None:
    """Aurinko webhooks, by hand."""


@webhook.command("send")
@click.argument("account_id")
@click.option("--resource", default="/email/messages", show_default=True)
@click.option("--url", default=None, help="Default: $BRIGHTSYNC_PUBLIC_URL/webhooks/aurinko")
def webhook_send(account_id: str, resource: str, url: str | None) -> None:
    """Post a notification signed with AURINKO_SIGNING_SECRET, as Aurinko would."""
    import requests

    from brightsync.signing import signed_headers

    settings = get_settings()
    if not settings.aurinko_signing_secret:
        raise click.ClickException("AURINKO_SIGNING_SECRET is not set: nothing to sign with")
    target = url or settings.public_url + "/webhooks/aurinko"
    account: int | str = int(account_id) if account_id.isdigit() else account_id
    body = json.dumps(
        {
            "subscription": 0,
            "resource": resource,
            "accountId": account,
            "payloads": [{"id": "manual", "changeType": "updated"}],
        }
    ).encode()
    headers = {
        **signed_headers(settings.aurinko_signing_secret, body),
        "Content-Type": "application/json",
    }
    try:
        r = requests.post(target, data=body, headers=headers, timeout=30)
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach {target}: {exc}") from None
    click.echo(f"{r.status_code} {r.text.strip()}")
    if not r.ok:
        sys.exit(1)


@cli.group()
def unmatched() -> None:
    """The sync cache of unmatched emails and meetings."""


@unmatched.command("retry")
@click.option("--org", "org_id", type=int, help="With --item: the item's organisation.")
@click.option("--item", "item_id", type=int, help="Retry this one item now.")
def unmatched_retry(org_id: int | None, item_id: int | None) -> None:
    """Retry every due item now (what beat runs daily), or one item."""
    from brightsync.domains import CACHE_KINDS
    from brightsync.unmatched.cache import retry_due

    if item_id is not None:
        from brightsync.ops import actions

        if org_id is None:
            raise click.UsageError("--item needs --org")
        _echo_json(_act(lambda: actions.retry_cache_item(org_id, item_id, CACHE_KINDS)))
        return
    _echo_json(retry_due(CACHE_KINDS, force=True))


@unmatched.command("expire")
def unmatched_expire() -> None:
    """Drop items past their retention (what beat runs daily)."""
    from brightsync.domains import CACHE_KINDS
    from brightsync.unmatched.cache import expire

    _echo_json({"expired": expire(CACHE_KINDS)})


@cli.group()
def contacts() -> None:
    """Contacts."""


@contacts.command("duplicates")
@click.argument("file", type=click.File("rb"))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per pair.")
@click.option("--region", default="US", show_default=True, help="Region of local phone numbers.")
@click.option("--min-score", type=click.FloatRange(0, 1), default=None, help="Report from here.")
def contacts_duplicates(file: Any, as_json: bool, region: str, min_score: float | None) -> None:
    """Likely duplicate pairs among contacts given as JSON lines (FILE, or - for stdin)."""
    from brightsync.people.contact_lines import BadInput, duplicates_in_lines, format_match
    from brightsync.people.duplicates import POSSIBLE_THRESHOLD

    try:
        for m in duplicates_in_lines(file, region, min_score or POSSIBLE_THRESHOLD):
            click.echo(json.dumps(m.to_dict()) if as_json else format_match(m))
    except BadInput as exc:
        raise click.ClickException(f"bad input\n{exc}") from None
    except BrokenPipeError:
        raise  # click ends quietly when the reader (head, less) has gone
    except OSError as exc:
        raise click.ClickException(f"cannot write the pairs: {exc.strerror or exc}") from None


@cli.group()
def keys() -> None:
    """Encryption keys of stored secrets (BRIGHTSYNC_ENCRYPTION_KEY)."""


@keys.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret with the first key of BRIGHTSYNC_ENCRYPTION_KEY.

    Put the new key first, keep the old ones after it, run this (safe to re-run, safe while
    the service runs), then drop the old keys once it reports nothing unreadable.
    """
    from brightsync.keys import rotate_stored_secrets

    report = rotate_stored_secrets()
    _echo_json(report.as_dict())
    if report.unreadable:
        raise click.ClickException(
            f"{len(report.unreadable)} secret(s) could not be decrypted with any key: "
            "add the key they were written with to BRIGHTSYNC_ENCRYPTION_KEY"
        )


@cli.group()
def sandbox() -> None:
    """The bundled simulators."""


@sandbox.command("aurinko")
@click.option("--port", type=int, default=8001, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--latency-ms",
    type=click.FloatRange(0, 10_000),
    default=0.0,
    show_default=True,
    help="hold every API answer this long, like the real API across a network",
)
def sandbox_aurinko(port: int, host: str, latency_ms: float) -> None:
    """Run the Aurinko simulator (webhooks signed with AURINKO_SIGNING_SECRET)."""
    from brightsync.sandbox.aurinko import serve

    click.echo(f"Aurinko simulator on http://{host}:{port} (control API under /_control)")
    serve(
        port,
        host,
        signing_secret=get_settings().aurinko_signing_secret,
        latency_ms=latency_ms,
    )


@cli.command("run")
@click.option("--workers", default=2, show_default=True, help="Worker processes.")
def run_stack(workers: int) -> None:
    """Run web + worker + beat together (the Procfile, on one machine)."""
    from brightsync.migrate import upgrade
    from brightsync.process import beat_command, worker_command

    settings = get_settings()
    upgrade()
    python = sys.executable
    procs = {
        "web": [
            python,
            "-m",
            "gunicorn",
            "-b",
            f"0.0.0.0:{settings.port}",
            "-w",
            "2",
            "brightsync.web:create_app()",
        ],
        "worker": worker_command(concurrency=workers),
        "beat": beat_command(settings.instance_path / "celerybeat-schedule"),
    }
    running = {name: subprocess.Popen(cmd, env=os.environ.copy()) for name, cmd in procs.items()}
    click.echo(f"web on http://localhost:{settings.port}, worker and beat started (Ctrl-C stops)")
    try:
        while all(p.poll() is None for p in running.values()):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for p in running.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in running.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def _mount() -> None:
    from brightsync.connector.cli import connector
    from brightsync.demo import demo
    from brightsync.sandbox.crm import crm_command

    cli.add_command(connector)
    cli.add_command(demo)
    sandbox.add_command(crm_command)


def main() -> None:
    try:
        _mount()
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
