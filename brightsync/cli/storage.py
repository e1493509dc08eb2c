"""What is stored: the database schema (`brightsync db`) and the keys of the secrets kept
in it (`brightsync keys`)."""

from __future__ import annotations

import click

from brightsync.cli.root import echo_json


@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (Alembic)."""
    from brightsync.migrate import current_revision, upgrade

    upgrade(revision)
    click.echo(f"database at revision {current_revision()}")


@click.group()
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
    echo_json(report.as_dict())
    if report.unreadable:
        raise click.ClickException(
            f"{len(report.unreadable)} secret(s) could not be decrypted with any key: "
            "add the key they were written with to BRIGHTSYNC_ENCRYPTION_KEY"
        )
