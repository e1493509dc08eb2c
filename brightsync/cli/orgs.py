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
