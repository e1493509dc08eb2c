"""Fixtures of the connector tests: reference CRMs with and without deliberate breakages."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from brightsync.sandbox.crm.harness import CrmSandbox


@pytest.fixture
def reference_crm() -> Iterator[Callable[..., CrmSandbox]]:
    """`reference_crm(breakages={...}, basic=(...))` starts one; all stop after the test."""
    started: list[CrmSandbox] = []

    def start(breakages: frozenset[str] | set[str] = frozenset(), **kwargs) -> CrmSandbox:
        sandbox = CrmSandbox(breakages=frozenset(breakages), **kwargs).start()
        started.append(sandbox)
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture(scope="module")
def full_crm() -> Iterator[CrmSandbox]:
    with CrmSandbox() as sandbox:
        yield sandbox
