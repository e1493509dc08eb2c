"""The email sync run's context: the shared CRM context plus the org's email policy."""

from __future__ import annotations

from functools import cached_property

from brightsync.crm.context import CrmContext
from brightsync.crm.context import load_context as _load
from brightsync.email.rules import EmailPolicy


class EmailContext(CrmContext):
    @cached_property
    def policy(self) -> EmailPolicy:
        return EmailPolicy.from_settings(self.settings, self.org_domains)


def load_context(user_id: int) -> EmailContext:
    return _load(user_id, EmailContext)
