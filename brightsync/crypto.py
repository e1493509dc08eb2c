"""Encryption at rest for access tokens and CRM credentials (Fernet: AES-128-CBC + HMAC).

BRIGHTSYNC_ENCRYPTION_KEY may hold several keys, comma-separated: the first encrypts, every one
decrypts (MultiFernet), so a new key can be put first and old secrets re-encrypted at leisure
with `brightsync keys rotate`. Every column whose name ends in `_enc` holds such a token.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from brightsync.config import GENERATE_KEY_HINT, ConfigError, get_settings

log = logging.getLogger(__name__)


def _generated_key() -> str:
    """The embedded default's key, generated once into the instance folder."""
    path = get_settings().instance_path / "encryption.key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    # Write with owner-only permissions: this file unlocks every stored token.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    log.warning(
        "BRIGHTSYNC_ENCRYPTION_KEY is not set: generated a key into %s. "
        "Set the variable in production so every process shares one key.",
        path,
    )
    return key


@lru_cache(maxsize=1)
def _keys() -> tuple[Fernet, ...]:
    # Settings validated the keys; a server database never gets here without one.
    keys = get_settings().encryption_keys or [_generated_key()]
    try:
        return tuple(Fernet(key.encode()) for key in keys)
    except (ValueError, TypeError):
        raise ConfigError(
            f"BRIGHTSYNC_ENCRYPTION_KEY must be a urlsafe-base64 32-byte key ({GENERATE_KEY_HINT})"
        ) from None


def _fernet() -> MultiFernet:
    return MultiFernet(list(_keys()))


def reset_keys() -> None:
    _keys.cache_clear()
    derived_keys.cache_clear()


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ConfigError(
            "a stored secret cannot be decrypted: none of the keys in BRIGHTSYNC_ENCRYPTION_KEY "
            "is the one it was written with"
        ) from None


def encrypt_json(value: dict[str, Any]) -> str:
    return encrypt(json.dumps(value, separators=(",", ":")))


def decrypt_json(token: str) -> dict[str, Any]:
    return json.loads(decrypt(token))


@lru_cache(maxsize=8)
def derived_keys(purpose: str) -> tuple[str, ...]:
    """Signing keys for `purpose` (e.g. the connect flow's `state`), one per encryption key in
    the same order: the first signs, every one verifies, so rotating the encryption key
    rotates these too. HMAC-derived: a signature never reveals the encryption key."""
    keys = get_settings().encryption_keys or [_generated_key()]
    return tuple(
        hmac.new(key.encode(), b"brightsync:" + purpose.encode(), hashlib.sha256).hexdigest()
        for key in keys
    )


def is_current(token: str) -> bool:
    """True when the first (encrypting) key already reads `token`."""
    try:
        _keys()[0].decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def reencrypt(token: str) -> str:
    """`token` encrypted with the first key; raises ConfigError when no key reads it."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise ConfigError(
            "a stored secret cannot be decrypted with any key in BRIGHTSYNC_ENCRYPTION_KEY"
        ) from None
