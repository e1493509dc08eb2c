"""The domain registry wires every service, and hands the central modules complete tables."""

from __future__ import annotations

from brightsync import domains
from brightsync.subscriptions import MAX_COUNTDOWN, retry_countdown


def test_every_service_has_its_domain_and_the_tables_are_complete() -> None:
    assert domains.SERVICES == ("email", "calendar", "contacts", "tasks")
    assert set(domains.CACHE_KINDS) == {"email", "meeting"}
    assert set(domains.EXPLAINERS) == {"email", "meeting", "contact", "task"}
    assert list(domains.ORG_PANELS) == ["heldDeletions", "possibleDuplicates"]
    # Only email runs something else in review mode; the two-way engine records its plan.
    assert [s for s, d in domains.DOMAINS.items() if d.review is not None] == ["email"]


def test_subscription_retries_double_up_to_the_cap() -> None:
    assert [retry_countdown(n) for n in range(3)] == [5, 10, 20]
    assert retry_countdown(20) == MAX_COUNTDOWN
