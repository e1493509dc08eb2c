"""Similar-contact detection, so auto-creation links an existing person instead of duplicating.

Two signals, both cheap and offline:
- same company domain (registrable, not free-mail) and a similar name;
- the same local part on a sibling domain (acme.com / acme.co.uk), unless names contradict.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rapidfuzz import fuzz

from brightsync.people.addresses import is_role_address, normalize_address
from brightsync.people.domains import (
    is_disposable,
    is_free_mail,
    registrable_domain,
    registrable_label,
)

# Scores are 0..100. 88 accepts typos/nicknames/initials ('Jon Smith', 'Bob Smith' vs
# 'Robert Smith', 'J. Smith') and rejects different first names ('Jane' vs 'John' = 80).
SIMILARITY_THRESHOLD = 88.0
# Below this, two names are taken to be different people even with the same local part.
CONTRADICTION_THRESHOLD = 60.0
_EXACT_SCORE = 100.0
_SAME_LOCAL_SAME_COMPANY_SCORE = 95.0
_SIBLING_DOMAIN_SCORE = 90.0
_MAX_CANDIDATES = 1000  # a lookup returning more is not a similarity question any more

# Light nickname table: canonical given name for common short forms (English mostly).
_NICKNAMES: dict[str, str] = {
    "bob": "robert",
    "rob": "robert",
    "robbie": "robert",
    "bobby": "robert",
    "bert": "robert",
    "bill": "william",
    "will": "william",
    "billy": "william",
    "liam": "william",
    "jim": "james",
    "jimmy": "james",
    "jamie": "james",
    "mike": "michael",
    "mick": "michael",
    "mikey": "michael",
    "dave": "david",
    "davy": "david",
    "dan": "daniel",
    "danny": "daniel",
    "tom": "thomas",
    "tommy": "thomas",
    "chris": "christopher",
    "kit": "christopher",
    "matt": "matthew",
    "matty": "matthew",
    "nick": "nicholas",
    "nicky": "nicholas",
    "tony": "anthony",
    "ant": "anthony",
    "joe": "joseph",
    "joey": "joseph",
    "steve": "steven",
    "stephen": "steven",
    "andy": "andrew",
    "drew": "andrew",
    "alex": "alexander",
    "sandy": "alexander",
    "ben": "benjamin",
    "benny": "benjamin",
    "sam": "samuel",
    "sammy": "samuel",
    "ed": "edward",
    "eddie": "edward",
    "ted": "edward",
    "ned": "edward",
    "rick": "richard",
    "rich": "richard",
    "dick": "richard",
    "richie": "richard",
    "greg": "gregory",
    "pat": "patrick",
    "pete": "peter",
    "fred": "frederick",
    "charlie": "charles",
    "chuck": "charles",
    "jon": "jonathan",
    "johnny": "john",
    "jack": "john",
    "hank": "henry",
    "harry": "henry",
    "larry": "lawrence",
    "jen": "jennifer",
    "jenny": "jennifer",
    "jenn": "jennifer",
    "liz": "elizabeth",
    "beth": "elizabeth",
    "betty": "elizabeth",
    "lisa": "elizabeth",
    "eliza": "elizabeth",
    "kate": "katherine",
    "katie": "katherine",
    "kathy": "katherine",
    "cathy": "katherine",
    "catherine": "katherine",
    "kathryn": "katherine",
    "sue": "susan",
    "susie": "susan",
    "maggie": "margaret",
    "meg": "margaret",
    "peggy": "margaret",
    "becky": "rebecca",
    "vicky": "victoria",
    "jess": "jessica",
    "jessie": "jessica",
    "mandy": "amanda",
    "pam": "pamela",
    "debbie": "deborah",
    "deb": "deborah",
    "abby": "abigail",
    "ally": "allison",
    "alli": "allison",
}


def _fold(text: object) -> str:
    """Lowercase ASCII-ish form: accents stripped, punctuation removed, spaces collapsed."""
    if not isinstance(text, str):
        return ""
    decomposed = unicodedata.normalize("NFKD", text[:200])
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^\w]+", " ", stripped.lower()).replace("_", " ").strip()


def _canonical_first(first: str) -> str:
    return _NICKNAMES.get(first, first)


def _first_score(a: str, b: str) -> float:
    if not a or not b:
        # One side lacks a first name: a shared last name alone must stay below the threshold.
        return 60.0
    ca, cb = _canonical_first(a.split(" ")[0]), _canonical_first(b.split(" ")[0])
    if ca == cb:
        return 100.0
    if len(a) == 1 or len(b) == 1:
        # Initial against a full name: 'J' ~ 'John'.
        return 95.0 if a[0] == b[0] else 0.0
    return float(fuzz.ratio(ca, cb))


def name_similarity(first_a: object, last_a: object, first_b: object, last_b: object) -> float:
    """0..100 similarity of two person names, tolerant to order, accents, nicknames, initials."""
    fa, la, fb, lb = _fold(first_a), _fold(last_a), _fold(first_b), _fold(last_b)
    if not (la or fa) or not (lb or fb):
        return 0.0
    full_a, full_b = f"{fa} {la}".strip(), f"{fb} {lb}".strip()
    # Swapped first/last ('Smith John') and extra middle names.
    best = float(fuzz.token_sort_ratio(full_a, full_b))
    if la and lb:
        structured = 0.6 * fuzz.ratio(la, lb) + 0.4 * _first_score(fa, fb)
        best = max(best, structured)
    return round(best, 2)


def _emails(candidate: Mapping[str, Any]) -> list[str]:
    raw = candidate.get("emailAddresses")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, Iterable):
        return []
    out = []
    for item in list(raw)[:50]:
        if isinstance(item, Mapping):  # tolerate [{address: ...}] shapes
            item = item.get("address") or item.get("email")
        norm = normalize_address(item)
        if norm:
            out.append(norm)
    return out


def score_candidate(
    first: object, last: object, address: object, candidate: Mapping[str, Any]
) -> float:
    """Similarity score (0..100) of a CRM contact to the person (first, last, address)."""
    addr = normalize_address(address)
    if addr is None or not isinstance(candidate, Mapping):
        return 0.0
    local, domain = addr.split("@", 1)
    reg = registrable_domain(domain)
    company = reg if reg and not is_free_mail(reg) and not is_disposable(reg) else None
    name = name_similarity(first, last, candidate.get("firstName"), candidate.get("lastName"))
    has_names = bool(_fold(first) or _fold(last)) and bool(
        _fold(candidate.get("firstName")) or _fold(candidate.get("lastName"))
    )
    role = is_role_address(addr)  # shared mailboxes prove nothing by their local part
    label = registrable_label(company) if company else None
    best = 0.0
    for email in _emails(candidate):
        if email == addr:
            return _EXACT_SCORE
        c_local, c_domain = email.split("@", 1)
        c_reg = registrable_domain(c_domain)
        if company is None or c_reg is None or is_free_mail(c_reg):
            continue  # free-mail domains say nothing about who works together
        if c_reg == company:
            if c_local.split("+")[0] == local.split("+")[0] and not role:
                # 'john@eu.acme.com' vs 'john@acme.com'
                if not has_names or name >= CONTRADICTION_THRESHOLD:
                    best = max(best, _SAME_LOCAL_SAME_COMPANY_SCORE)
            if name >= SIMILARITY_THRESHOLD:
                best = max(best, name)
        elif c_local == local and not role and registrable_label(c_reg) == label:
            # Sibling domain: same person at acme.com and acme.co.uk.
            if not has_names or name >= CONTRADICTION_THRESHOLD:
                best = max(best, _SIBLING_DOMAIN_SCORE)
    return best


def find_similar_contact(
    first: object,
    last: object,
    address: object,
    candidates: Sequence[Mapping[str, Any]] | None,
    threshold: float = SIMILARITY_THRESHOLD,
) -> dict[str, Any] | None:
    """Best existing contact that is probably the same person, or None.

    Ties keep the earliest candidate so the answer is stable for a given CRM lookup order.
    """
    if not candidates or not isinstance(candidates, Sequence | list):
        return None
    best: Mapping[str, Any] | None = None
    best_score = 0.0
    for candidate in list(candidates)[:_MAX_CANDIDATES]:
        if not isinstance(candidate, Mapping):
            continue
        score = score_candidate(first, last, address, candidate)
        if score >= threshold and score > best_score:
            best, best_score = candidate, score
    return dict(best) if best is not None else None
