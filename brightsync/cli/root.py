"""The root `brightsync` group and what its commands share: JSON output, admin-action
and input errors as click errors."""

from __future__ import annotations

import json
import logging
from typing import Any

import click

from brightsync.config import get_settings


def echo_json(data: Any) -> None:
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


def act(action: Any) -> Any:
    from brightsync.ops.actions import ActionError

    try:
        return action()
    except ActionError as exc:
        raise click.ClickException(exc.message) from None


def validate(schema: Any, data: dict[str, Any]) -> dict[str, Any]:
    from marshmallow import ValidationError

    try:
        return schema.load({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        raise click.ClickException(f"invalid input: {json.dumps(exc.messages)}") from None
