"""session_scope: one transaction at a time per thread (a nested one would wedge SQLite)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from brightsync.db import NestedTransactionError, after_commit, session_scope
from brightsync.models import Organisation


def test_a_transaction_inside_another_of_the_same_thread_is_refused(unit_env):
    with session_scope() as outer:
        outer.scalars(select(Organisation)).all()  # the outer one has begun
        with pytest.raises(NestedTransactionError):
            with session_scope():
                pass
    with session_scope() as again:  # the refusal left nothing behind
        again.scalars(select(Organisation)).all()


def test_what_is_not_nested_in_a_begun_transaction_is_allowed(unit_env):
    seen: list[str] = []
    with session_scope() as outer:
        with session_scope() as inner:  # the outer one has not begun: nothing is held
            inner.scalars(select(Organisation)).all()

        def hook() -> None:  # after-commit hooks run once the outer one is over
            with session_scope() as s:
                s.scalars(select(Organisation)).all()
            seen.append("hook")

        outer.scalars(select(Organisation)).all()
        after_commit(outer, hook)
    assert seen == ["hook"]
