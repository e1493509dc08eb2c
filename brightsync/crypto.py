"""Encryption at rest for access tokens and CRM credentials (Fernet: AES-128-CBC + HMAC)."""

from __future__ import annotations

import json
import logging
import os
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from brightsync.config import ConfigError, get_settings

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def _fernet() -> Fernet:
    settings = get_settings()
    key = settings.encryption_key
    if not key:
        path = settings.instance_path / "encryption.key"
        if path.exists():
            key = path.read_text().strip()
        else:
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
    try:
        return Fernet(key.encode() if isinstance(key, str) else key)
    except (ValueError, TypeError):
        raise ConfigError(
            "BRIGHTSYNC_ENCRYPTION_KEY must be a urlsafe-base64 32-byte key "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())')"
        ) from None


def reset_keys() -> None:
    _fernet.cache_clear()


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ConfigError(
            "a stored secret cannot be decrypted: BRIGHTSYNC_ENCRYPTION_KEY differs from the key "
            "it was written with"
        ) from None


def encrypt_json(value: dict[str, Any]) -> str:
    return encrypt(json.dumps(value, separators=(",", ":")))


def decrypt_json(token: str) -> dict[str, Any]:
    return json.loads(decrypt(token))
