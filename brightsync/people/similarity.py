"""Similar-contact detection, so auto-creation links an existing person instead of duplicating.

Two signals, both cheap and offline:
- same company domain (registrable, not free-mail) and a similar name;
- the same local part on a sibling domain (acme.com / acme.co.uk), unless names contradict.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jellyfish
from rapidfuzz import fuzz

from brightsync.people.addresses import is_role_address, normalize_address
from brightsync.people.domains import (
    is_disposable,
    is_free_mail,
    registrable_domain,
    registrable_label,
)
from brightsync.people.names import canonical_given_names, fold_name, nickname_related

# Scores are 0..100. 88 accepts typos/nicknames/initials ('Jon Smith', 'Bob Smith' vs
# 'Robert Smith', 'J. Smith') and rejects different first names ('Jane' vs 'John' = 80).
SIMILARITY_THRESHOLD = 88.0
# Below this, two names are taken to be different people even with the same local part.
CONTRADICTION_THRESHOLD = 60.0
_EXACT_SCORE = 100.0
_SAME_LOCAL_SAME_COMPANY_SCORE = 95.0
_SIBLING_DOMAIN_SCORE = 90.0
_MAX_CANDIDATES = 1000  # a lookup returning more is not a similarity question any more


def _fold(text: object) -> str:
    return fold_name(text)


_UNKNOWN = 0.75  # one side lacks this name part: neither agreement nor contradiction


def _edit_distance(a: str, b: str) -> int:
    return int(jellyfish.damerau_levenshtein_distance(a, b))


def _given_score(a: str, b: str) -> tuple[float, str]:
    """0..1 agreement of two folded given names, with what made them agree."""
    if not a or not b:
        return _UNKNOWN, "missing"
    a1, b1 = a.split(" ")[0], b.split(" ")[0]
    if a == b or a1 == b1:
        return 1.0, "exact"
    if len(a1) == 1 or len(b1) == 1:
        # An initial against a name: 'J' ~ 'John', and 'R' ~ 'Bob' through 'Robert'.
        initial, full = (a1, b1) if len(a1) == 1 else (b1, a1)
        starts = {full[0]} | {c[0] for c in canonical_given_names(full)}
        return (0.9, "initial") if initial in starts else (0.0, "different")
    if nickname_related(a1, b1):
        return 0.95, "nickname"
    short, long_ = sorted((a1, b1), key=len)
    if len(short) >= 3 and len(long_) - len(short) >= 3 and long_.startswith(short):
        return 0.85, "short form"  # 'Dan' / 'Daniel', when the list does not know it
    return _spelling_score(a1, b1, strict=True)


def _spelling_score(a: str, b: str, strict: bool) -> tuple[float, str]:
    """Typo tolerance: one edit on names of 5+ letters (4+ for family names), sound-alikes.

    Given names are stricter: 'Mark'/'Mary' and 'Jane'/'Jana' are different people more
    often than typos.
    """
    distance = _edit_distance(a, b)
    shortest = min(len(a), len(b))
    if distance == 1 and shortest >= (5 if strict else 4):
        return (0.85 if strict else 0.9), "typo"
    if distance <= 2 and shortest >= 5 and jellyfish.metaphone(a) == jellyfish.metaphone(b):
        return 0.8, "sounds alike"
    if distance == 1:
        return (0.7 if strict else 0.75), "typo"
    if distance == 2 and shortest >= 7:
        return 0.7, "typo"
    return round(fuzz.ratio(a, b) / 200, 4), "different"


def _family_score(a: str, b: str) -> tuple[float, str]:
    """0..1 agreement of two folded family names (multi-part names tolerated)."""
    if not a or not b:
        return _UNKNOWN, "missing"
    if a == b or a.replace(" ", "") == b.replace(" ", ""):
        return 1.0, "exact"
    ta, tb = set(a.split(" ")), set(b.split(" "))
    if ta <= tb or tb <= ta:
        return 0.85, "part"  # 'Garcia' / 'Garcia Lopez'
    return _spelling_score(a, b, strict=False)


def compare_names(
    first_a: object, last_a: object, first_b: object, last_b: object
) -> tuple[float, str]:
    """0..1 similarity of two person names and how they agree ('exact', 'nickname', ...).

    Tolerates accents, case, typos, nicknames (curated list), initials and swapped
    first/last names; a part missing on one side counts as neither agreement nor conflict.
    """
    return _compare_folded(_fold(first_a), _fold(last_a), _fold(first_b), _fold(last_b))


@functools.lru_cache(maxsize=65536)  # the same name pairs meet again in other blocks
def _compare_folded(fa: str, la: str, fb: str, lb: str) -> tuple[float, str]:
    if not (la or fa) or not (lb or fb):
        return 0.0, "no name"
    if sorted(f"{fa} {la}".split()) == sorted(f"{fb} {lb}".split()):
        # Same words, whatever the fields: 'Smith John', or the whole name in one field.
        return 1.0, "exact" if (fa, la) == (fb, lb) else "swapped"
    if _joined_form(fa, la, fb, lb) or _joined_form(fb, lb, fa, la):
        return 0.8, "initial joined to last name"
    g, g_how = _given_score(fa, fb)
    f, f_how = _family_score(la, lb)
    best, how = g * f, _describe(g_how, f_how)
    if fa and la and fb and lb:
        # Swapped fields on either side; both orientations keep the score symmetric.
        for (g1, f1), (g2, f2) in (((la, fa), (fb, lb)), ((fa, la), (lb, fb))):
            sg, sg_how = _given_score(g1, g2)
            sf, sf_how = _family_score(f1, f2)
            if sg * sf > best:
                best, how = sg * sf, "swapped, " + _describe(sg_how, sf_how)
    return round(best, 4), how


def _joined_form(first: str, last: str, other_first: str, other_last: str) -> bool:
    """'Jdoe' or 'Janedoe' (a name made from an address local part) against 'Jane Doe'."""
    words = f"{first} {last}".split()
    if len(words) != 1 or not other_first or not other_last:
        return False
    word, f, lst = words[0], other_first.replace(" ", ""), other_last.replace(" ", "")
    return len(word) >= 4 and word in {f[0] + lst, f + lst, lst + f[0], lst + f}


def _describe(given: str, family: str) -> str:
    notes = [f"first name {given}" if given != "exact" else ""]
    notes.append(f"last name {family}" if family != "exact" else "")
    return ", ".join(n for n in notes if n) or "exact"


def name_similarity(first_a: object, last_a: object, first_b: object, last_b: object) -> float:
    """0..100 similarity of two person names (see `compare_names`)."""
    return round(compare_names(first_a, last_a, first_b, last_b)[0] * 100, 2)


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
