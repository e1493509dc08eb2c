"""Finding every likely duplicate pair in a large address book, never comparing all pairs.

Each record gets blocking keys (mailbox, phone, phonetic family name + given-name initial,
given name + family initial, swapped forms) in a temporary SQLite index, and only records
sharing a key are compared (`duplicates.match`), one block at a time, so memory stays flat
whatever the number of contacts.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jellyfish

from brightsync.people.duplicates import POSSIBLE_THRESHOLD, Match, match
from brightsync.people.names import canonical_given_names
from brightsync.people.person import InvalidContact, Person, prepare
from brightsync.people.phones import DEFAULT_REGION

# Blocks larger than this (a switchboard number, a common name) are compared as a sorted
# neighbourhood instead of all pairs, so one block can never cost O(n^2).
MAX_BLOCK = 300
WINDOW = 30
# A number on more records than this is a switchboard or a shared line, not a person's.
COMMON_PHONE = 20
_MAX_CANONICALS = 6


def _metaphone(word: str) -> str:
    return jellyfish.metaphone(word) if word.isalpha() else word


def _initials(given: str) -> set[str]:
    first = given.split(" ")[0]
    if not first:
        return set()
    canon = sorted(canonical_given_names(first))[:_MAX_CANONICALS]
    return {first[0]} | {c[0] for c in canon}


def blocking_keys(p: Person) -> set[str]:
    """Keys under which two records must share at least one to be compared."""
    keys = {"e:" + m for m in p.mailboxes} | {"p:" + ph for ph in p.phones}
    words = f"{p.first} {p.last}".split()
    if len(words) == 1 and len(words[0]) >= 4:
        # 'Jdoe' made from an address meets 'Jane Doe' under 'n:T:j'.
        keys.add(f"n:{_metaphone(words[0][1:])}:{words[0][0]}")
    if not p.first or not p.last:
        return keys
    for given, family in ((p.first, p.last), (p.last, p.first)):  # as given, and swapped
        initials = _initials(given)
        for word in family.split():
            sound = _metaphone(word)
            keys.update(f"n:{sound}:{i}" for i in initials if sound)
    first = p.first.split(" ")[0]
    if len(first) > 1:
        # Survives a typo in the family name ('Smith' / 'Smiht') as long as its initial holds.
        for given in {first} | set(sorted(canonical_given_names(first))[:_MAX_CANONICALS]):
            keys.add(f"g:{given}:{p.last[0]}")
    return keys


class DuplicateIndex:
    """Streams contacts into a temporary on-disk index, then yields the likely pairs.

    Memory stays flat: records and keys live in SQLite, and pairs are produced block by
    block. A pair sharing several keys is scored once, in the block of its smallest shared
    key (a key of an oversized block counts only when no other is shared).
    """

    def __init__(self, region: str = DEFAULT_REGION, directory: str | None = None) -> None:
        self.region = region
        fd, self._path = tempfile.mkstemp(prefix="brightsync-dupes-", suffix=".db", dir=directory)
        os.close(fd)
        self._db = sqlite3.connect(self._path)
        self._db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            CREATE TABLE person (
                n INTEGER PRIMARY KEY, pid TEXT UNIQUE, sortkey TEXT NOT NULL, data TEXT NOT NULL
            );
            CREATE TABLE block (key TEXT NOT NULL, n INTEGER NOT NULL);
            """
        )
        self.count = 0

    def close(self) -> None:
        self._db.close()
        try:
            os.unlink(self._path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> DuplicateIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, record: Mapping[str, Any] | Person) -> None:
        """Index one contact; raises InvalidContact for a bad record or a repeated id."""
        person = record if isinstance(record, Person) else prepare(record, self.region)
        if person.id is None:
            person = Person(self.count + 1, *person.to_row()[1:])  # the record's position
        keys = blocking_keys(person)
        row = person.to_row()
        try:
            cur = self._db.execute(
                "INSERT INTO person (pid, sortkey, data) VALUES (?, ?, ?)",
                (
                    json.dumps(person.id),
                    f"{person.last}\x00{person.first}",
                    json.dumps([row, sorted(keys)]),
                ),
            )
        except sqlite3.IntegrityError:
            raise InvalidContact(f"id {person.id!r} appears twice") from None
        self._db.executemany("INSERT INTO block VALUES (?, ?)", [(k, cur.lastrowid) for k in keys])
        self.count += 1

    def pairs(self, min_score: float = POSSIBLE_THRESHOLD) -> Iterator[Match]:
        """Every pair scoring at least `min_score`, each pair once."""
        db = self._db
        db.commit()
        db.execute("CREATE INDEX IF NOT EXISTS block_key ON block (key, n)")
        oversized = {
            k
            for (k,) in db.execute(
                "SELECT key FROM block GROUP BY key HAVING count(*) > ?", (MAX_BLOCK,)
            )
        }
        common_phones = {
            k[2:]
            for (k,) in db.execute(
                "SELECT key FROM block WHERE key LIKE 'p:%' GROUP BY key HAVING count(*) > ?",
                (COMMON_PHONE,),
            )
        }
        scope = _Scope(oversized, common_phones, min_score)
        rows = db.execute(
            "SELECT key, n FROM block WHERE key IN "
            "(SELECT key FROM block GROUP BY key HAVING count(*) > 1) ORDER BY key, n"
        )
        for key, group in itertools.groupby(rows, key=lambda row: row[0]):
            if key in oversized:
                for _ in group:  # skip its rows here; the window streams them in name order
                    pass
                yield from self._window_pairs(key, scope)
            else:
                members = self._load([n for _key, n in group])
                for i, a in enumerate(members):
                    for b in members[i + 1 :]:
                        found = scope.owned_match(key, a, b)
                        if found is not None:
                            yield found

    def _load(self, ns: list[int]) -> list[tuple[Person, set[str]]]:
        out: list[tuple[Person, set[str]]] = []
        for start in range(0, len(ns), 500):
            chunk = ns[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for (data,) in self._db.execute(
                f"SELECT data FROM person WHERE n IN ({marks}) ORDER BY n", chunk
            ):
                out.append(_decode(data))
        return out

    def _window_pairs(self, key: str, scope: _Scope) -> Iterator[Match]:
        """A huge block (a switchboard number): each record against its WINDOW name neighbours,
        streamed in name order so memory holds one window, not the block."""
        window: collections.deque[tuple[Person, set[str]]] = collections.deque(maxlen=WINDOW)
        cursor = self._db.execute(
            "SELECT p.data FROM block b JOIN person p ON p.n = b.n WHERE b.key = ?"
            " ORDER BY p.sortkey, p.n",
            (key,),
        )
        for (data,) in cursor:
            b = _decode(data)
            for a in window:
                found = scope.owned_match(key, a, b)
                if found is not None:
                    yield found
            window.append(b)


def _decode(data: str) -> tuple[Person, set[str]]:
    row, keys = json.loads(data)
    return Person.from_row(row), set(keys)


@dataclass(frozen=True, slots=True)
class _Scope:
    """What the whole index knows when scoring one pair."""

    oversized: set[str]  # block keys compared as a window
    common_phones: set[str]  # numbers on more than COMMON_PHONE records
    min_score: float

    def owned_match(
        self, key: str, a: tuple[Person, set[str]], b: tuple[Person, set[str]]
    ) -> Match | None:
        """The pair's Match, if this block owns it: its smallest shared key (not oversized
        when another is shared), so a pair sharing several keys is scored once."""
        shared = a[1] & b[1]
        owner = min(shared - self.oversized, default=None) or min(shared)
        if owner != key:
            return None
        return match(a[0], b[0], self.min_score, self.common_phones)


def find_duplicates(
    records: Iterable[Mapping[str, Any] | Person],
    region: str = DEFAULT_REGION,
    min_score: float = POSSIBLE_THRESHOLD,
) -> Iterator[Match]:
    """Likely duplicate pairs among contact records (streamed in, streamed out)."""
    with DuplicateIndex(region) as index:
        for record in records:
            index.add(record)
        yield from index.pairs(min_score)
