"""The webhook's own Redis socket (brightsync.sync.resp) against a real Redis."""

from __future__ import annotations

import pytest

from brightsync.sync.resp import ScriptSocket
from tests.support.faults import kill_redis_clients

COUNT = "return redis.call('INCR', KEYS[1])"


@pytest.fixture
def redis_url(backend):
    url = backend.env.get("REDIS_URL")
    if not url:
        pytest.skip("the embedded default has no Redis")
    return url


def test_a_held_connection_the_server_closed_is_replaced_once(redis_url):
    call = ScriptSocket(redis_url, COUNT)
    assert call(["resp-test"], []) == 1
    assert kill_redis_clients(redis_url) >= 1  # a restart, an idle timeout, CLIENT KILL
    # The next call finds its socket closed and succeeds on a fresh one: no 503 for it.
    assert call(["resp-test"], []) == 2
    call.close()


def test_a_fresh_connection_that_fails_is_an_error(redis_url):
    call = ScriptSocket("redis://127.0.0.1:1/0", COUNT)  # nothing listens on port 1
    with pytest.raises(OSError):
        call(["resp-test"], [])
