"""`brightsync review`: review mode, the pre-sync report, held deletions and possible
duplicates."""

from __future__ import annotations

from typing import Any

import click

from brightsync.cli.root import echo_json


@click.group()
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
        echo_json(report_for(s, **_target(org_id, user_id)))


@review.command("start")
@click.option("--org", "org_id", type=int)
@click.option("--user", "user_id", type=int)
def review_start(org_id: int | None, user_id: int | None) -> None:
    """Put an organisation (all its users) or a user in review mode."""
    from brightsync.review.mode import set_mode

    echo_json(
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

    echo_json(_review_call(activate, **_target(org_id, user_id)))


@review.command("held")
@click.option("--org", "org_id", type=int, required=True)
def review_held(org_id: int) -> None:
    """Deletions the mass-deletion guard held."""
    from brightsync.db import session_scope
    from brightsync.review.held import list_held

    with session_scope() as s:
        items, total = list_held(s, org_id, 500)
    echo_json({"items": items, "total": total})


@review.command("decide")
@click.option("--org", "org_id", type=int, required=True)
@click.argument("decision", type=click.Choice(["approve", "reject"]))
@click.argument("ids", type=int, nargs=-1, required=True)
def review_decide(org_id: int, decision: str, ids: tuple[int, ...]) -> None:
    """Approve or reject held deletions (carried out by the next run)."""
    from brightsync.review.held import decide

    echo_json(_review_call(decide, org_id=org_id, link_ids=list(ids), decision=decision))


@review.command("duplicates")
@click.option("--org", "org_id", type=int, required=True)
@click.option("--state", type=click.Choice(["open", "approved", "rejected"]), default="open")
def review_duplicates(org_id: int, state: str) -> None:
    """Possible duplicate contacts."""
    from brightsync.db import session_scope
    from brightsync.review.duplicates import list_possible_duplicates

    with session_scope() as s:
        items, total = list_possible_duplicates(s, org_id, state, 500)
        echo_json({"items": items, "total": total})


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
        echo_json(duplicate_out(row))
