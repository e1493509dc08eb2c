"""The Redis generation check (brightsync.generation): pure verdict and the embedded no-op."""

from __future__ import annotations

from brightsync import generation


def test_verdict_tells_a_first_start_from_a_loss():
    assert generation.verdict("abc", "abc") == "intact"
    assert generation.verdict("abc", None) == "intact"  # the database was reset, Redis not
    assert generation.verdict(None, None) == "new"  # first start: nothing to rebuild
    assert generation.verdict(None, "abc") == "lost"  # Redis forgot what the database knows


def test_embedded_backend_has_nothing_to_lose(unit_env):
    # No Redis: broker, locks and caches live in the database; the check never rebuilds.
    assert generation.check() is False
