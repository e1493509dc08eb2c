"""`brightsync connector …`: the conformance check and the contract document.

The lead mounts `connector` on the main `brightsync` group (`main.add_command(connector)`).
"""

from __future__ import annotations

import json
import sys

import click

from brightsync.connector.check import run_check
from brightsync.connector.openapi import connector_openapi
from brightsync.connector.report import format_report, report_json


@click.group("connector")
def connector() -> None:
    """Work with a business system's connector API (the CRM side of BrightSync)."""


@connector.command("check")
@click.argument("base_url")
@click.option("--token", envvar="BRIGHTSYNC_CONNECTOR_TOKEN", help="bearer token")
@click.option("--username", help="Basic auth user")
@click.option("--password", envvar="BRIGHTSYNC_CONNECTOR_PASSWORD", help="Basic auth password")
@click.option("--timeout", default=15.0, show_default=True, help="seconds per request")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def check(
    base_url: str,
    token: str | None,
    username: str | None,
    password: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Check the connector at BASE_URL against the contract; exit 1 if a required part fails.

    It creates clearly labelled test records (a contact, a company, an email, an event, a
    task), looks them up, changes them and deletes what the contract can delete. One test
    contact is sent twice with the same Idempotency-Key, to report whether the connector
    honours it (recommended, never required).
    """
    if token and username:
        raise click.UsageError("pass either --token or --username/--password")
    if username and password is None:
        raise click.UsageError("--username needs --password")
    report = run_check(base_url, token=token, username=username, password=password, timeout=timeout)
    click.echo(report_json(report) if as_json else format_report(report), nl=False)
    if as_json:
        click.echo()
    sys.exit(report.exit_code)


@connector.command("openapi")
@click.option("--indent", default=2, show_default=True)
def openapi(indent: int) -> None:
    """Print the OpenAPI document of the connector contract."""
    click.echo(json.dumps(connector_openapi(), indent=indent, ensure_ascii=False))
