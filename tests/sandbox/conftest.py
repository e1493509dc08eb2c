"""Fixtures of the Aurinko simulator tests: a running simulator, raw API access, a webhook
receiver, and the OpenAPI document as a validator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from brightsync.sandbox.aurinko import (
    WebhookRecorder,
)
from tests.conftest import SIGNING_SECRET  # the shared `aurinko` fixture signs with it
from tests.support.openapi import OpenApi, load_openapi


class Api:
    """Raw HTTP to the simulated API as one account (no client library in between)."""

    def __init__(self, base_url: str, token: str | None = None, **kwargs: Any) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.kwargs = kwargs

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(
            method, self.base_url + path, timeout=10, **{**self.kwargs, **kwargs}
        )


@pytest.fixture
def mailbox(aurinko) -> Callable[..., tuple[dict[str, Any], Api]]:
    """`mailbox(email, provider="google", **options)` -> (control's account, Api as it)."""
    url, control = aurinko

    def make(email: str, provider: str = "google", **options: Any):
        account = control.add_account(email, provider=provider, **options)
        return account, Api(url, account["accessToken"])

    return make


@pytest.fixture
def receiver() -> Iterator[WebhookRecorder]:
    with WebhookRecorder(SIGNING_SECRET) as hook:
        yield hook


@pytest.fixture(scope="session")
def openapi() -> OpenApi:
    return load_openapi()
