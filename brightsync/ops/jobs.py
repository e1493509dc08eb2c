"""Imported by every worker (celery include): installs the metrics and logging hooks there."""

from brightsync.ops.hooks import install

install()
