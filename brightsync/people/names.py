"""First/last name extraction from display names and address local parts (pure)."""

from __future__ import annotations

import functools
import re
import unicodedata
from email.header import decode_header, make_header

from nameparser import HumanName
from nicknames import NickNamer

from brightsync.people.addresses import local_part, normalize_address

MAX_NAME_PART_LENGTH = 80  # common CRM field size; longer parts are noise, not names
_MAX_DISPLAY_LENGTH = 256

_ENCODED_WORD_RE = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_PAREN_RE = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}")
# Google Groups / LinkedIn rewrite senders as "'John Smith' via Sales".
_VIA_RE = re.compile(r"\s+via\s+.*$", re.IGNORECASE)
_NOISE = frozenset(
    {
        "",
        "unknown",
        "undisclosed recipients",
        "undisclosed-recipients",
        "undisclosed",
        "recipients",
        "none",
        "null",
        "n/a",
        "na",
        "no name",
        "noname",
        "me",
        "you",
    }
)


def decode_encoded_words(text: object) -> str:
    """Decode RFC 2047 '=?utf-8?b?...?=' words a provider left undecoded; never raises."""
    if not isinstance(text, str):
        return ""
    if "=?" not in text or not _ENCODED_WORD_RE.search(text):
        return text
    try:
        return str(make_header(decode_header(text)))
    except Exception:  # unknown charset or broken base64: keep the raw text
        return text


def _clean_display(display_name: object, address: str | None) -> str:
    """Display name with quotes, notes and noise removed; '' when it carries no name."""
    if not isinstance(display_name, str):
        return ""
    text = decode_encoded_words(display_name[: _MAX_DISPLAY_LENGTH * 4])
    text = "".join(ch for ch in text if ch.isprintable())
    text = _VIA_RE.sub("", text)
    text = _PAREN_RE.sub(" ", text)
    text = text.strip().strip("\"'`<>").strip()
    text = re.sub(r"\s+", " ", text)
    if len(text) > _MAX_DISPLAY_LENGTH or "@" in text:
        return ""  # an address (or garbage) shown as the name says nothing about the name
    if text.lower() in _NOISE or not any(ch.isalpha() for ch in text):
        return ""
    if address and text.lower() == (local_part(address) or "").lower():
        return ""  # 'john.smith' as display name: handled by the local-part rule
    return text


def _cap(part: str) -> str:
    return part.strip(" ,.")[:MAX_NAME_PART_LENGTH].strip()


def _title(word: str) -> str:
    return word[:1].upper() + word[1:].lower() if word else ""


def split_local_part(address: object) -> tuple[str, str]:
    """Guess (first, last) from the local part: 'john.smith' -> ('John', 'Smith').

    A single token ('jsmith', 'john') becomes the last name: CRMs usually require a last name,
    and 'jsmith'-style locals are mostly initial + surname.
    """
    local = local_part(address)
    if not local:
        return "", ""
    local = local.split("+", 1)[0]
    tokens = [t for t in re.split(r"[._\-\d]+", local) if t and any(c.isalpha() for c in t)]
    if not tokens:
        return "", ""
    if len(tokens) == 1:
        return "", _cap(_title(tokens[0]))
    return _cap(_title(tokens[0])), _cap(_title(tokens[-1]))


def split_name(display_name: object, address: object = None) -> tuple[str, str]:
    """(first, last) for a participant, from the display name or else the address local part.

    'Smith, John' and 'Dr. John Q. Smith Jr.' both give ('John', 'Smith'); middle names,
    titles, suffixes and nicknames are dropped; all-caps/all-lower names are capitalised.
    """
    norm = normalize_address(address)
    text = _clean_display(display_name, norm)
    if not text:
        return split_local_part(norm)
    try:
        human = HumanName(text)
        human.capitalize()  # only touches all-upper / all-lower input
        first, last = _cap(human.first), _cap(human.last)
    except Exception:  # nameparser on exotic input: fall back to a plain split
        words = text.split(" ")
        first, last = _cap(words[0]), _cap(words[-1]) if len(words) > 1 else ""
    if first and not last:
        # One word ('John'): complete it from 'john.smith@' when the local part agrees.
        lfirst, llast = split_local_part(norm)
        if lfirst and lfirst.lower() == first.lower() and llast:
            return first, llast
        return first, ""
    if last and not first:
        return "", last
    return first, last


def fold_name(text: object) -> str:
    """Lowercase ASCII-ish form for comparing: accents stripped, punctuation gone, spaces collapsed.

    'José  García-López' -> 'jose garcia lopez'.
    """
    if not isinstance(text, str):
        return ""
    return _fold(text[:200])


@functools.lru_cache(maxsize=65536)  # names repeat a lot across an address book
def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^\w]+", " ", stripped.lower()).replace("_", " ").strip()


@functools.cache
def _nicknamer() -> NickNamer:
    # The curated English names/nicknames list shipped with `nicknames`; parsed once.
    return NickNamer()


@functools.lru_cache(maxsize=65536)
def _relatives(name: str) -> frozenset[str]:
    nn = _nicknamer()
    return frozenset(nn.canonicals_of(name) | nn.nicknames_of(name))


@functools.lru_cache(maxsize=65536)
def canonical_given_names(name: str) -> frozenset[str]:
    """Formal names a given name may stand for: 'bob' -> {'robert', ...}; {} when none."""
    return frozenset(_nicknamer().canonicals_of(name)) if name else frozenset()


def nickname_related(a: str, b: str) -> bool:
    """True when two (folded) given names are the same name through the nickname list.

    'bob'~'robert' (nickname of), 'bob'~'rob' (both short for 'robert'); two formal names
    that merely share a nickname ('aaron' and 'ronald' via 'ron') are not related.
    """
    if not a or not b:
        return False
    if a == b:
        return True
    if b in _relatives(a):
        return True
    # Both short for one longer formal name. The list also records odd links between
    # formal names ('bill' noted as a nickname of 'robert'), so a shorter shared "canonical"
    # would make 'william' and 'robert' one name.
    shared = canonical_given_names(a) & canonical_given_names(b)
    return any(len(c) > max(len(a), len(b)) for c in shared)
