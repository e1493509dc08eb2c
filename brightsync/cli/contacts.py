"""`brightsync contacts`: contact tools that need no database."""

from __future__ import annotations

import json
from typing import Any

import click


@click.group()
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
