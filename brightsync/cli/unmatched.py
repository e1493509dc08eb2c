"""`brightsync unmatched`: the sync cache of unmatched emails and meetings."""

from __future__ import annotations

import click

from brightsync.cli.root import act, echo_json


@click.group()
def unmatched() -> None:
    """The sync cache of unmatched emails and meetings."""


@unmatched.command("retry")
@click.option("--org", "org_id", type=int, help="With --item: the item's organisation.")
@click.option("--item", "item_id", type=int, help="Retry this one item now.")
def unmatched_retry(org_id: int | None, item_id: int | None) -> None:
    """Retry every due item now (what beat runs daily), or one item."""
    from brightsync.domains import CACHE_KINDS
    from brightsync.sync_cache.cache import retry_due

    if item_id is not None:
        from brightsync.ops import actions

        if org_id is None:
            raise click.UsageError("--item needs --org")
        echo_json(act(lambda: actions.retry_cache_item(org_id, item_id, CACHE_KINDS)))
        return
    echo_json(retry_due(CACHE_KINDS, force=True))


@unmatched.command("expire")
def unmatched_expire() -> None:
    """Drop items past their retention (what beat runs daily)."""
    from brightsync.domains import CACHE_KINDS
    from brightsync.sync_cache.cache import expire

    echo_json({"expired": expire(CACHE_KINDS)})
