"""`brightsync org` and `brightsync user`: organisations and their mailboxes, validated as
the admin API validates them."""

from __future__ import annotations

import json
from typing import Any

import click

from brightsync.cli.root import echo_json, validate


@click.group()
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
    data = validate(
        schemas.OrgCreate(),
        {"name": name, "domains": list(domains), "crm": crm, "settings": settings, "mode": mode},
    )
    echo_json(create_org(data))


@click.group()
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

    data = validate(
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
    echo_json(out)


@user.command("change")
@click.argument("user_id", type=int)
@click.option("--service", "services", multiple=True, help="The services to sync (repeat).")
@click.option("--crm-user-id")
@click.option("--settings", "settings_json", help="Overrides of the org's settings, as JSON.")
def user_change(
    user_id: int, services: tuple[str, ...], crm_user_id: str | None, settings_json: str | None
) -> None:
    """Change a user's services, CRM user or own settings (as PATCH /api/v1/users/{id})."""
    from marshmallow import ValidationError

    from brightsync.lifecycle.change import change_user
    from brightsync.ops.actions import ActionError
    from brightsync.web import schemas

    body: dict[str, Any] = {}
    if services:
        body["services"] = list(services)
    if crm_user_id is not None:
        body["crmUserId"] = crm_user_id
    if settings_json is not None:
        try:
            body["settings"] = json.loads(settings_json)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--settings") from None
    data = validate(schemas.UserPatch(), body)
    try:
        out = change_user(user_id, data)
    except ActionError as exc:
        raise click.ClickException(exc.message) from None
    except ValidationError as exc:
        raise click.ClickException(f"invalid settings: {json.dumps(exc.messages)}") from None
    echo_json({"userId": user_id, "added": out.added, "removed": out.removed, "queued": out.queued})


@user.command("remove")
@click.argument("user_id", type=int)
def user_remove(user_id: int) -> None:
    """Remove a user (as DELETE /api/v1/users/{id}): its subscriptions, runs and rows."""
    from brightsync.lifecycle.removal import remove_user

    out = remove_user(user_id)
    if out is None:
        raise click.ClickException(f"no user {user_id} (never registered, or removed already)")
    echo_json(out)


@org.command("remove")
@click.argument("org_id", type=int)
def org_remove(org_id: int) -> None:
    """Remove an organisation and every user (as DELETE /api/v1/orgs/{id})."""
    from brightsync.lifecycle.removal import remove_org

    out = remove_org(org_id)
    if out is None:
        raise click.ClickException(f"no organisation {org_id} (never created, or removed already)")
    echo_json(out)


@org.command("forget")
@click.argument("org_id", type=int)
@click.option("--email", "address", required=True, help="The person's address.")
def org_forget(org_id: int, address: str) -> None:
    """Erase a person's address from what BrightSync keeps (as POST …/orgs/{id}/forget)."""
    from brightsync.lifecycle.forget import forget
    from brightsync.web import lifecycle_schemas

    data = validate(lifecycle_schemas.ForgetRequest(), {"emailAddress": address})
    out = forget(org_id, data["emailAddress"])
    if out is None:
        raise click.ClickException(f"no organisation {org_id}")
    echo_json(out)
