"""Duplicate contacts: score two prepared records (`people/person.py`), with the reasons.

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

Finding the pairs in a large address book without comparing all pairs:
`people/duplicate_index.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, Literal

from rapidfuzz import fuzz

from brightsync.people.addresses import is_role_address
from brightsync.people.person import Person, prepare
from brightsync.people.phones import DEFAULT_REGION
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

Decision = Literal["duplicate", "possible"]


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
