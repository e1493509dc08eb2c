"""BrightSync: mailbox <-> business-system sync engine.

`celery -A brightsync` finds the Celery app in `brightsync.celery`.
"""

__version__ = "0.1.0"
