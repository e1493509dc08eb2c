"""Flower settings (Flower reads ./flowerconfig.py): it never runs without credentials.

FLOWER_BASIC_AUTH="user:password[,user2:password2]"; without it, "admin" with the admin token.
The same rule is applied when the Celery app loads, so it holds from any working directory.
"""

import os

from brightsync.ops.flower import REFUSAL
from brightsync.ops.flower import basic_auth as _pairs

_auth = _pairs(os.environ)
if not _auth:
    raise SystemExit(REFUSAL)
basic_auth = _auth
