"""Contacts as JSON lines (one object per line) in, duplicate pairs out: the CLI's plumbing.

Every line is checked before any pair is reported, so a bad file yields line-numbered
errors and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from brightsync.people.duplicate_index import DuplicateIndex
from brightsync.people.duplicates import POSSIBLE_THRESHOLD, Match
from brightsync.people.person import InvalidContact
from brightsync.people.phones import DEFAULT_REGION

MAX_REPORTED_ERRORS = 20


class BadInput(ValueError):
    """Some input lines could not be read; `errors` holds 'line N: why' messages."""

    def __init__(self, errors: list[str], total: int) -> None:
        self.errors = errors
        self.total = total
        more = f" (and {total - len(errors)} more)" if total > len(errors) else ""
        super().__init__("\n".join(errors) + more)


def duplicates_in_lines(
    lines: Iterable[bytes | str],
    region: str = DEFAULT_REGION,
    min_score: float = POSSIBLE_THRESHOLD,
) -> Iterator[Match]:
    """Pairs among the contacts of a JSON-lines stream; raises BadInput before any pair."""
    errors: list[str] = []
    bad = 0
    with DuplicateIndex(region) as index:
        for number, raw in enumerate(lines, start=1):
            try:
                text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
                if not text.strip():
                    continue
                record = json.loads(text)
                if isinstance(record, dict) and record.get("id") in (None, ""):
                    record["id"] = number  # no id: the line number names the contact
                index.add(record)
            except UnicodeDecodeError:
                problem = "not UTF-8 text"
            except json.JSONDecodeError as exc:
                problem = f"not valid JSON ({exc.msg}, column {exc.colno})"
            except (InvalidContact, RecursionError) as exc:
                problem = str(exc) or "unreadable contact"
            else:
                continue
            bad += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(f"line {number}: {problem}")
        if bad:
            raise BadInput(errors, bad)
        yield from index.pairs(min_score)


def format_match(m: Match) -> str:
    """One tab-separated line: a, b, score, decision, reasons."""
    return f"{m.a}\t{m.b}\t{m.score:.2f}\t{m.decision}\t{'; '.join(m.reasons)}"
