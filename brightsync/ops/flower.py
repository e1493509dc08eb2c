"""Flower's credentials, applied however Flower is started.

`celery -A brightsync flower` imports the Celery app before Flower reads its options, so the
app module calls `guard_flower()`: it puts the credentials into FLOWER_BASIC_AUTH, the
environment variable Flower itself reads, or stops the process when there are none. That holds
from any working directory and with or without flowerconfig.py (which uses the same rule).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

REFUSAL = (
    "Flower refuses to start without credentials: set FLOWER_BASIC_AUTH=user:password "
    "(or BRIGHTSYNC_ADMIN_TOKEN, then log in as admin with that token)"
)


def basic_auth(env: Mapping[str, str]) -> list[str] | None:
    """`user:password` pairs: FLOWER_BASIC_AUTH, else admin with the admin token, else None."""
    explicit = env.get("FLOWER_BASIC_AUTH", "").strip()
    if explicit:
        return [pair.strip() for pair in explicit.split(",") if pair.strip()]
    token = env.get("BRIGHTSYNC_ADMIN_TOKEN", "").strip()
    return [f"admin:{token}"] if token else None


def is_flower(argv: Sequence[str]) -> bool:
    return "flower" in argv[1:]


def guard_flower(argv: Sequence[str] | None = None, env: dict[str, str] | None = None) -> None:
    argv = sys.argv if argv is None else argv
    env = os.environ if env is None else env  # type: ignore[assignment]
    if not is_flower(argv):
        return
    if env is os.environ:
        from dotenv import load_dotenv

        load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
    pairs = basic_auth(env)
    if not pairs:
        raise SystemExit(REFUSAL)
    env["FLOWER_BASIC_AUTH"] = ",".join(pairs)
