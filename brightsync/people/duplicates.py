"""Duplicate contacts: score two records, and find every likely pair in a large address book.

A pair scores 0..1:
- a shared mailbox (normalised email, plus-tags and dots folded where the provider ignores
  them) is the same person, unless the names clearly disagree (a family or shared inbox);
- otherwise the name similarity (`compare_names`: typos, nicknames, initials, swaps,
  accents) is weighed by what else the records share: a phone number (E.164), a company
  email domain, a company name. A matching name alone never reaches the grey band: common
  names are shared by strangers.

Scores at or above DUPLICATE_THRESHOLD are "duplicate" (link instead of creating); from
POSSIBLE_THRESHOLD they are "possible" (a person should look). The thresholds were tuned on
the labelled set of `brightsync.people.duplicate_samples` (figures in docs/architecture.md).

Finding pairs never compares all pairs: each record gets blocking keys (mailbox, phone,
phonetic family name + given-name initial, given name + family initial, swapped forms) in a
temporary SQLite index, and only records sharing a key are compared, one block at a time,
so memory stays flat whatever the number of contacts.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Literal

import jellyfish
from rapidfuzz import fuzz

from brightsync.people.addresses import is_role_address, mailbox_key
from brightsync.people.domains import company_domain, registrable_label
from brightsync.people.names import canonical_given_names, fold_name
from brightsync.people.phones import DEFAULT_REGION, normalize_phone
from brightsync.people.similarity import compare_names

DUPLICATE_THRESHOLD = 0.8
POSSIBLE_THRESHOLD = 0.65
# How much each shared fact vouches for a similar name (combined as independent evidence).
_PHONE_WEIGHT = 1.0
_DOMAIN_WEIGHT = 0.85
_COMPANY_WEIGHT = 0.9
_NAME_ONLY_FACTOR = 0.6  # a name with no other shared fact stays below POSSIBLE_THRESHOLD
_SHARED_MAILBOX_CONFLICT_SCORE = 0.7  # same mailbox, different names: for review
_PHONE_WITHOUT_NAME_SCORE = 0.7  # a nameless record on someone's number: for review
_CONFLICTING_NAMES = 0.5
_COLLEAGUES_CAP = 0.75
# Blocks larger than this (a switchboard number, a common name) are compared as a sorted
# neighbourhood instead of all pairs, so one block can never cost O(n^2).
MAX_BLOCK = 300
WINDOW = 30
# A number on more records than this is a switchboard or a shared line, not a person's.
COMMON_PHONE = 20
_MAX_VALUES = 20  # emails / phones per record considered
_MAX_CANONICALS = 6

_LEGAL_FORMS = frozenset(
    {
        "inc",
        "incorporated",
        "ltd",
        "limited",
        "llc",
        "llp",
        "plc",
        "corp",
        "corporation",
        "co",
        "company",
        "gmbh",
        "ag",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "bv",
        "nv",
        "oy",
        "ab",
        "as",
        "pty",
        "kg",
        "the",
        # Generic words that one record keeps and another drops ('Acme Labs' / 'Acme').
        "group",
        "holding",
        "holdings",
        "partners",
        "labs",
        "systems",
        "solutions",
        "technologies",
        "international",
    }
)

Decision = Literal["duplicate", "possible"]


class InvalidContact(ValueError):
    """A contact record that cannot be read (wrong field types, missing object)."""


@dataclass(frozen=True, slots=True)
class Person:
    """A contact reduced to what matching compares (all values normalised)."""

    id: Any
    first: str = ""
    last: str = ""
    mailboxes: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    company: str = ""
    labels: tuple[str, ...] = ()  # company names its email domains spell ('acme' for acme.de)

    def to_row(self) -> list[Any]:
        return [
            self.id,
            self.first,
            self.last,
            self.mailboxes,
            self.phones,
            self.domains,
            self.company,
            self.labels,
        ]

    @classmethod
    def from_row(cls, row: list[Any]) -> Person:
        pid, first, last, mailboxes, phones, domains, company, labels = row
        return cls(
            pid,
            first,
            last,
            tuple(mailboxes),
            tuple(phones),
            tuple(domains),
            company,
            tuple(labels),
        )


@dataclass(frozen=True, slots=True)
class Match:
    a: Any
    b: Any
    score: float
    decision: Decision
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "score": self.score,
            "decision": self.decision,
            "reasons": list(self.reasons),
        }


def _strings(record: Mapping[str, Any], name: str, keys: tuple[str, ...]) -> list[str]:
    """A list-of-strings field; also accepts one string or [{address|number|value: ...}]."""
    raw = record.get(name)
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise InvalidContact(f"{name} must be a list of strings")
    out: list[str] = []
    for item in raw[:_MAX_VALUES]:
        if isinstance(item, Mapping):
            item = next((item[k] for k in keys if isinstance(item.get(k), str)), None)
        if item is None:
            continue
        if not isinstance(item, str):
            raise InvalidContact(f"{name} must be a list of strings")
        out.append(item)
    return out


def _text(record: Mapping[str, Any], name: str) -> str:
    raw = record.get(name)
    if raw is None:
        return ""
    if isinstance(raw, Mapping):  # {'name': 'Acme'} company shapes
        raw = raw.get("name") or ""
    if not isinstance(raw, str):
        raise InvalidContact(f"{name} must be a string")
    return raw


def normalize_company(name: object) -> str:
    """Company name for comparing: 'ACME, Inc.' -> 'acme'; '' when nothing is left."""
    words = [w for w in fold_name(name).split() if w not in _LEGAL_FORMS]
    return " ".join(words)


def prepare(record: Mapping[str, Any], region: str = DEFAULT_REGION) -> Person:
    """Normalise a contact record ({id, firstName, lastName, emailAddresses, phoneNumbers,
    company}; any may be empty) for matching. Raises InvalidContact for wrong field types."""
    if not isinstance(record, Mapping):
        raise InvalidContact("a contact must be a JSON object")
    pid = record.get("id")
    if isinstance(pid, bool) or (pid is not None and not isinstance(pid, str | int)):
        raise InvalidContact("id must be a string or an integer")
    emails = _strings(record, "emailAddresses", ("address", "email", "value"))
    phones = _strings(record, "phoneNumbers", ("number", "phone", "value"))
    mailboxes = tuple(dict.fromkeys(m for m in map(mailbox_key, emails) if m))
    domains = tuple(dict.fromkeys(d for d in map(company_domain, mailboxes) if d))
    return Person(
        id=pid,
        first=fold_name(_text(record, "firstName")),
        last=fold_name(_text(record, "lastName")),
        mailboxes=mailboxes,
        phones=tuple(dict.fromkeys(p for p in (normalize_phone(x, region) for x in phones) if p)),
        domains=domains,
        company=normalize_company(_text(record, "company")),
        labels=tuple(dict.fromkeys(x for x in map(registrable_label, domains) if x)),
    )


def decide(score: float) -> Decision | None:
    if score >= DUPLICATE_THRESHOLD:
        return "duplicate"
    if score >= POSSIBLE_THRESHOLD:
        return "possible"
    return None


def _same_company(a: Person, b: Person) -> bool:
    """Same company name (typos tolerated), or a name that one's email domain spells."""
    if a.company and b.company:
        if a.company == b.company:
            return True
        if min(len(a.company), len(b.company)) >= 4 and fuzz.ratio(a.company, b.company) >= 90:
            return True
    for company, labels in ((a.company, b.labels), (b.company, a.labels)):
        if company and company.replace(" ", "") in labels:
            return True
    return False


def score_pair(
    a: Person, b: Person, common_phones: AbstractSet[str] = frozenset()
) -> tuple[float, list[str]]:
    """0..1 likelihood that two prepared contacts are the same person, with the reasons.

    `common_phones` are numbers many records share (a switchboard): they vouch like a
    company domain, not like a personal number.
    """
    has_a, has_b = bool(a.first or a.last), bool(b.first or b.last)
    similarity, how = compare_names(a.first, a.last, b.first, b.last)
    name_reason = f"name {how} ({similarity:.2f})" if has_a and has_b else "name missing"
    shared = sorted(set(a.mailboxes) & set(b.mailboxes))
    personal = [m for m in shared if not is_role_address(m)]
    if personal:
        if has_a and has_b and similarity < _CONFLICTING_NAMES:
            return _SHARED_MAILBOX_CONFLICT_SCORE, [f"same email {personal[0]}", name_reason]
        return 1.0, [f"same email {personal[0]}", name_reason]
    reasons: list[str] = []
    doubt = 1.0  # probability that every shared fact is a coincidence
    shared_phones = sorted(set(a.phones) & set(b.phones))
    phones = [p for p in shared_phones if p not in common_phones]
    if phones:
        reasons.append(f"same phone {phones[0]}")
        doubt *= 1 - _PHONE_WEIGHT
    elif shared_phones:
        reasons.append(f"same shared phone {shared_phones[0]}")
        doubt *= 1 - _DOMAIN_WEIGHT
    domains = sorted(set(a.domains) & set(b.domains))
    if domains or shared:
        # A shared role mailbox (sales@acme.com) says as much as the company domain.
        reasons.append(f"same company domain {(domains or [shared[0].split('@')[1]])[0]}")
        doubt *= 1 - _DOMAIN_WEIGHT
    if _same_company(a, b):
        reasons.append("same company")
        doubt *= 1 - _COMPANY_WEIGHT
    if not (has_a and has_b):
        return (_PHONE_WITHOUT_NAME_SCORE if phones else 0.0), [*reasons, name_reason]
    if not (a.first and a.last and b.first and b.last) and not phones:
        # 'Smith' at Acme fits every Smith at Acme: a half name needs a shared phone.
        doubt = 1.0
    weight = _NAME_ONLY_FACTOR + (1 - _NAME_ONLY_FACTOR) * (1 - doubt)
    score = min(round(similarity * weight, 4), 0.99)  # 1.0 is kept for a shared mailbox
    if domains and not phones and not shared:
        # Two different mailboxes at one company are usually two colleagues (a second
        # Robert Clark): never more than a possible duplicate without a shared phone.
        reasons.append(f"different addresses at {domains[0]}")
        score = min(score, _COLLEAGUES_CAP)
    return score, [*reasons, name_reason]


def _shares_a_fact(a: Person, b: Person) -> bool:
    return bool(
        set(a.mailboxes) & set(b.mailboxes)
        or set(a.phones) & set(b.phones)
        or set(a.domains) & set(b.domains)
        or _same_company(a, b)
    )


def match(
    a: Person,
    b: Person,
    min_score: float = POSSIBLE_THRESHOLD,
    common_phones: AbstractSet[str] = frozenset(),
) -> Match | None:
    """The Match of two prepared contacts when it reaches `min_score` (and the grey band)."""
    if min_score > _NAME_ONLY_FACTOR and not _shares_a_fact(a, b):
        return None  # a name alone scores at most _NAME_ONLY_FACTOR: skip the name work
    score, reasons = score_pair(a, b, common_phones)
    decision = decide(score)
    if decision is None or score < min_score:
        return None
    return Match(a.id, b.id, score, decision, reasons)


def compare(
    a: Mapping[str, Any], b: Mapping[str, Any], region: str = DEFAULT_REGION
) -> Match | None:
    """Convenience for two raw contact records: their Match, or None when not alike."""
    return match(prepare(a, region), prepare(b, region))


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
