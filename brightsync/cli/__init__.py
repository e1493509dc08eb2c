"""The `brightsync` command: the root group (`cli.root`) with every command group added here,
one module per concern. `main` is the console script and `python -m brightsync`."""

from __future__ import annotations

import sys

import click

from brightsync.cli import contacts, orgs, review, runs, sandbox, stack, storage, unmatched
from brightsync.cli.root import cli
from brightsync.config import ConfigError

for command in (
    storage.db,
    storage.keys,
    orgs.org,
    orgs.user,
    runs.sync_cmd,
    runs.status_cmd,
    runs.pause_cmd,
    runs.resume_cmd,
    runs.resync_cmd,
    runs.why_cmd,
    review.review,
    sandbox.webhook,
    sandbox.sandbox,
    unmatched.unmatched,
    contacts.contacts,
    stack.run_stack,
):
    cli.add_command(command)


def mount_heavy() -> None:
    """Add the commands whose modules are heavy to import (the connector checker, the demo,
    the reference CRM): only the real command pays for them, not `from brightsync.cli import
    cli`."""
    from brightsync.connector.cli import connector
    from brightsync.demo.command import demo
    from brightsync.sandbox.crm.cli import crm_command

    cli.add_command(connector)
    cli.add_command(demo)
    sandbox.sandbox.add_command(crm_command)


def main() -> None:
    try:
        mount_heavy()
        cli(standalone_mode=True)
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
