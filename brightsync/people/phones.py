"""Phone number normalisation to E.164 (pure), so '(415) 555-0100' and '+1 415 555 0100' match."""

from __future__ import annotations

import phonenumbers

DEFAULT_REGION = "US"
_MAX_RAW_LENGTH = 64  # longer is not a phone number; keep the parser's work bounded


def normalize_phone(raw: object, region: str = DEFAULT_REGION) -> str | None:
    """E.164 form of a phone number ('+14155550100', extension kept as ';ext=12'), or None.

    Numbers without a country code are read in `region` (ISO 3166 code, e.g. 'US', 'GB').
    Only possible numbers are accepted: too short or too long digit runs are refused.
    """
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > _MAX_RAW_LENGTH or not any(ch.isdigit() for ch in text):
        return None
    if text.startswith("00"):
        text = "+" + text[2:]  # international prefix used across Europe
    try:
        number = phonenumbers.parse(text, region.upper() if region else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return f"{e164};ext={number.extension}" if number.extension else e164
