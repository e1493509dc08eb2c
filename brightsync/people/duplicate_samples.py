"""A seeded, labelled address book with realistic duplicates, to tune and check the matcher.

Each generated person gets one record; some get a second (rarely a third) record written
the way a different mailbox or CRM user would have typed it: typos, nicknames, swapped or
initialised names, accents dropped, another email (work vs personal), the phone in another
format or missing, the company spelled differently. Hard negatives come for free and on
purpose: common names are drawn far more often than rare ones (namesakes), colleagues share
a company domain and switchboard number, relatives share a family name, a phone and
sometimes an inbox. No network, no external data: the same seed gives the same book.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nicknames import NickNamer

# Given names with their usual nicknames in the curated list, plus names without any.
_GIVEN = (
    "james robert john michael william david richard joseph thomas charles christopher "
    "daniel matthew anthony mark donald steven paul andrew joshua kenneth kevin brian "
    "george timothy ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan "
    "stephen larry justin scott brandon benjamin samuel gregory alexander frank patrick "
    "raymond jack dennis jerry tyler aaron jose adam nathan henry douglas zachary peter "
    "mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy "
    "betty margaret sandra ashley kimberly emily donna michelle carol amanda dorothy "
    "melissa deborah stephanie rebecca sharon laura cynthia kathleen amy angela shirley "
    "anna brenda pamela emma nicole helen samantha katherine christine debra rachel "
    "carolyn janet catherine maria heather diane ruth julie olivia joyce virginia "
    "zoe chloe sofia lucia elena ines rene andre francois jurgen soren bjorn noemie "
    "aisha wei mei hiroshi yuki priya arjun omar fatima ivan olga kwame chidi"
).split()
_ACCENTED = {
    "zoe": "Zoë",
    "ines": "Inés",
    "rene": "René",
    "andre": "André",
    "francois": "François",
    "jurgen": "Jürgen",
    "soren": "Søren",
    "noemie": "Noémie",
    "jose": "José",
    "lucia": "Lucía",
    "bjorn": "Björn",
}
_FAMILY = (
    "smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez "
    "lopez gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson "
    "white harris sanchez clark ramirez lewis robinson walker young allen king wright "
    "scott torres nguyen hill flores green adams nelson baker hall rivera campbell "
    "mitchell carter roberts gomez phillips evans turner diaz parker cruz edwards collins "
    "reyes stewart morris morales murphy cook rogers gutierrez ortiz morgan cooper "
    "peterson bailey reed kelly howard ramos kim cox ward richardson watson brooks "
    "chavez wood james bennett gray mendoza ruiz hughes price alvarez castillo sanders "
    "patel myers long ross foster jimenez muller schmidt schneider fischer weber meyer "
    "wagner becker schulz hoffmann dubois moreau laurent lefebvre rossi russo ferrari "
    "esposito bianchi romano kowalski nowak wisniewski novak horvat jensen nielsen "
    "hansen andersen larsen johansson karlsson nilsson tanaka suzuki takahashi watanabe "
    "wang li zhang liu chen yang huang zhao wu zhou singh kumar sharma gupta okafor "
    "mensah diallo haddad khalil cohen levi friedman oconnor mcdonald fitzgerald "
    "vanderberg degroot"
).split()
_FAMILY_ACCENTED = {
    "garcia": "García",
    "lopez": "López",
    "gonzalez": "González",
    "hernandez": "Hernández",
    "martinez": "Martínez",
    "rodriguez": "Rodríguez",
    "perez": "Pérez",
    "sanchez": "Sánchez",
    "ramirez": "Ramírez",
    "gomez": "Gómez",
    "diaz": "Díaz",
    "muller": "Müller",
    "jimenez": "Jiménez",
    "alvarez": "Álvarez",
    "wisniewski": "Wiśniewski",
    "oconnor": "O'Connor",
    "vanderberg": "van der Berg",
    "degroot": "de Groot",
}
_FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com")
_WORDS = (
    "blue peak north star river stone bright lake oak iron cedar swift green harbor "
    "summit falcon maple silver orbit delta nova apex pine crest vista lumen terra"
).split()
_SUFFIX = ("Inc", "Ltd", "LLC", "GmbH", "Group", "Labs", "Systems", "Partners", "Corp")


@dataclass
class Sample:
    """Records (contact dicts as the CLI reads them) and the true duplicate pairs."""

    records: list[dict[str, Any]]
    pairs: set[tuple[str, str]]


def _zipf_weights(items: list[str], offset: int) -> list[float]:
    # Rank-based weights (1 / (rank + offset)): the first names of each list are the common
    # ones, about 5% of people for the top given name and 2% for the top family name.
    cumulative, total = [], 0.0
    for rank in range(len(items)):
        total += 1 / (rank + offset)
        cumulative.append(total)
    return cumulative


_GIVEN_WEIGHTS = _zipf_weights(_GIVEN, 6)
_FAMILY_WEIGHTS = _zipf_weights(_FAMILY, 20)


def _typo(rng: random.Random, word: str) -> str:
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(("swap", "drop", "double", "replace"))
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice(string.ascii_lowercase) + word[i + 1 :]


def _us_phone(rng: random.Random) -> tuple[str, str, str]:
    area, mid, end = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    if area % 100 == 11 or str(area)[1] == "9":
        area = 415  # keep area codes in assigned shapes
    return str(area), str(mid), f"{end:04d}"


def _format_phone(rng: random.Random, parts: tuple[str, str, str]) -> str:
    a, m, e = parts
    return rng.choice(
        (
            f"({a}) {m}-{e}",
            f"{a}-{m}-{e}",
            f"+1 {a} {m} {e}",
            f"{a}.{m}.{e}",
            f"+1{a}{m}{e}",
            f"1-{a}-{m}-{e}",
        )
    )


def _cap(word: str, accented: dict[str, str]) -> str:
    return accented.get(word) or " ".join(w.capitalize() for w in word.split(" "))


class _Book:
    def __init__(self, seed: int, n: int) -> None:
        self.rng = random.Random(seed)
        self.nick = NickNamer()
        self.used: set[str] = set()
        n_companies = max(3, n // 25)
        self.companies = []
        for i in range(n_companies):
            w1, w2 = self.rng.sample(_WORDS, 2)
            base = f"{w1}{w2}{i if i >= len(_WORDS) ** 2 // 2 else ''}"
            self.companies.append(
                {
                    "name": f"{base.capitalize()} {self.rng.choice(_SUFFIX)}",
                    "domain": f"{base}.{self.rng.choice(('com', 'com', 'io', 'co.uk', 'de'))}",
                    "switchboard": _us_phone(self.rng),
                }
            )

    def person(self) -> dict[str, Any]:
        rng = self.rng
        given = rng.choices(_GIVEN, cum_weights=_GIVEN_WEIGHTS)[0]
        family = rng.choices(_FAMILY, cum_weights=_FAMILY_WEIGHTS)[0]
        company = rng.choice(self.companies) if rng.random() < 0.75 else None
        return self._with(given, family, company)

    def _with(self, given: str, family: str, company: dict[str, Any] | None) -> dict[str, Any]:
        rng = self.rng
        flat = family.replace(" ", "")
        work = None
        if company:
            local = rng.choice((f"{given}.{flat}", f"{given[0]}{flat}", given, f"{given}{flat[0]}"))
            work = self._unique(local, company["domain"])
        sep = rng.choice((".", "", "_"))
        personal = self._unique(f"{given}{sep}{flat}{rng.randint(1, 99)}", rng.choice(_FREE_MAIL))
        return {
            "given": given,
            "family": family,
            "company": company,
            "work": work,
            "personal": personal,
            "mobile": _us_phone(rng),
        }

    def _unique(self, local: str, domain: str) -> str:
        # A mailbox belongs to one person: a second James Smith gets james.smith2@.
        addr, i = f"{local}@{domain}", 1
        while addr.replace(".", "") in self.used:
            i += 1
            addr = f"{local}{i}@{domain}"
        self.used.add(addr.replace(".", ""))
        return addr

    def record(self, p: dict[str, Any], noisy: bool) -> dict[str, Any]:
        """One contact record of person p; noisy for the later copies."""
        rng = self.rng
        first, last = _cap(p["given"], _ACCENTED), _cap(p["family"], _FAMILY_ACCENTED)
        if noisy:
            first, last = self._noisy_name(p, first, last)
        emails: list[str] = []
        primary = p["work"] or p["personal"]
        roll = rng.random()
        if roll < (0.4 if noisy else 0.9):
            emails.append(self._spelled(primary))
        elif roll < (0.75 if noisy else 0.95) and p["work"]:
            emails.append(p["personal"])  # the other address only
        if rng.random() < 0.15 and p["work"] and p["personal"] not in emails:
            emails.append(p["personal"])
        phones: list[str] = []
        roll = rng.random()
        if roll < (0.5 if noisy else 0.6):
            phones.append(_format_phone(rng, p["mobile"]))
        elif roll < 0.65 and p["company"]:
            phones.append(_format_phone(rng, p["company"]["switchboard"]))
        company = ""
        if p["company"] and rng.random() < (0.6 if noisy else 0.8):
            name = p["company"]["name"]
            company = rng.choice((name, name.upper(), name.rsplit(" ", 1)[0], name + "."))
        if rng.random() < 0.04:
            first = ""
        elif rng.random() < 0.02:
            last = ""
        return {
            "firstName": first,
            "lastName": last,
            "emailAddresses": emails,
            "phoneNumbers": phones,
            "company": company,
        }

    def _spelled(self, addr: str) -> str:
        rng = self.rng
        local, domain = addr.split("@")
        roll = rng.random()
        if roll < 0.2:
            return addr.upper() if rng.random() < 0.5 else local.capitalize() + "@" + domain
        if roll < 0.3 and domain == "gmail.com":
            return f"{local.replace('.', '')}+crm@googlemail.com"
        return addr

    def _noisy_name(self, p: dict[str, Any], first: str, last: str) -> tuple[str, str]:
        rng = self.rng
        roll = rng.random()
        nicks = sorted(self.nick.nicknames_of(p["given"]))
        if roll < 0.2 and nicks:
            first = rng.choice(nicks).capitalize()
        elif roll < 0.35:
            first = _typo(rng, first)
        elif roll < 0.5:
            last = _typo(rng, last)
        elif roll < 0.6:
            first, last = last, first
        elif roll < 0.7:
            first = first[0] + "."
        elif roll < 0.8:
            first, last = p["given"], p["family"]  # accents and capitals dropped
        if rng.random() < 0.1:
            first, last = first.upper(), last.upper()
        return first, last

    def relative(self, p: dict[str, Any]) -> dict[str, Any]:
        """Someone else with the same family name who shares a phone, inbox or company."""
        rng = self.rng
        given = rng.choice([g for g in _GIVEN if g[0] != p["given"][0]])
        other = self._with(given, p["family"], p["company"] if rng.random() < 0.5 else None)
        if rng.random() < 0.5:
            other["mobile"] = p["mobile"]  # a family landline
        if rng.random() < 0.15:
            other["personal"] = p["personal"]  # a shared family inbox
            other["work"] = other["work"] or None
        return other

    def colleague(self, p: dict[str, Any]) -> dict[str, Any]:
        """A different person at the same company with a similar name."""
        rng = self.rng
        family = p["family"] if rng.random() < 0.5 else _typo(rng, p["family"])
        given = rng.choice([g for g in _GIVEN if g != p["given"]])
        return self._with(given, family, p["company"])


def generate(n: int, seed: int = 7, duplicate_rate: float = 0.2) -> Sample:
    """About n labelled records; a `duplicate_rate` share of people have a second record."""
    book = _Book(seed, n)
    rng = book.rng
    people: list[tuple[int, dict[str, Any], bool]] = []  # (entity, person, has copies)
    entity = planned = 0
    while planned < n:
        p = book.person()
        copies = rng.random() < duplicate_rate
        people.append((entity, p, copies))
        entity += 1
        planned += 2 if copies else 1
        roll = rng.random()
        if roll < 0.05:
            people.append((entity, book.relative(p), False))
            entity, planned = entity + 1, planned + 1
        elif roll < 0.1 and p["company"]:
            people.append((entity, book.colleague(p), False))
            entity, planned = entity + 1, planned + 1
    records: list[tuple[int, dict[str, Any]]] = []
    for ent, p, copies in people:
        base = book.record(p, noisy=False)
        records.append((ent, base))
        if copies:
            for _ in range(2 if rng.random() < 0.1 else 1):
                copy = book.record(p, noisy=True)
                if not _shares_fact(base, copy) and rng.random() < 0.85:
                    # Most duplicates leave some trace besides the name (the number the
                    # person called from); the rest can only be found by a human.
                    for rec in (base, copy):
                        rec["phoneNumbers"].append(_format_phone(rng, p["mobile"]))
                records.append((ent, copy))
    rng.shuffle(records)
    by_entity: dict[int, list[str]] = {}
    out: list[dict[str, Any]] = []
    for i, (ent, record) in enumerate(records[:n]):
        rid = f"c{i + 1}"
        out.append({"id": rid, **record})
        by_entity.setdefault(ent, []).append(rid)
    pairs = {
        _ordered(a, b)
        for ids in by_entity.values()
        for i, a in enumerate(ids)
        for b in ids[i + 1 :]
    }
    return Sample(out, pairs)


def _shares_fact(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def digits(rec: dict[str, Any]) -> set[str]:
        return {"".join(ch for ch in x if ch.isdigit())[-10:] for x in rec["phoneNumbers"]}

    emails_a = {e.lower() for e in a["emailAddresses"]}
    same_email = bool(emails_a & {e.lower() for e in b["emailAddresses"]})
    return same_email or bool(digits(a) & digits(b)) or bool(a["company"] and b["company"])


def _ordered(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def evaluate(sample: Sample, matches: Iterator[Any]) -> dict[str, float]:
    """Precision and recall of 'duplicate' and of 'duplicate + possible' against the labels."""
    strict: set[tuple[str, str]] = set()
    loose: set[tuple[str, str]] = set()
    for m in matches:
        pair = _ordered(str(m.a), str(m.b))
        loose.add(pair)
        if m.decision == "duplicate":
            strict.add(pair)
    truth = sample.pairs

    def pr(found: set[tuple[str, str]]) -> tuple[float, float]:
        hits = len(found & truth)
        return (hits / len(found) if found else 1.0, hits / len(truth) if truth else 1.0)

    (p1, r1), (p2, r2) = pr(strict), pr(loose)
    return {
        "pairs": len(truth),
        "duplicate_precision": p1,
        "duplicate_recall": r1,
        "any_precision": p2,
        "any_recall": r2,
    }
