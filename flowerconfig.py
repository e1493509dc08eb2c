"""Flower settings (Flower reads ./flowerconfig.py): it never runs without credentials.

FLOWER_BASIC_AUTH="user:password[,user2:password2]"; without it, "admin" with the admin token.
"""

import os

_auth = os.environ.get("FLOWER_BASIC_AUTH") or (
    f"admin:{os.environ['BRIGHTSYNC_ADMIN_TOKEN']}"
    if os.environ.get("BRIGHTSYNC_ADMIN_TOKEN")
    else None
)
if not _auth:
    raise SystemExit(
        "Flower refuses to start without credentials: set FLOWER_BASIC_AUTH=user:password "
        "(or BRIGHTSYNC_ADMIN_TOKEN, then log in as admin with that token)"
    )
basic_auth = _auth.split(",")
