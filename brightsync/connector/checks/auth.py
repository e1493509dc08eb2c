"""Authentication: the credentials given work, and requests without them are refused."""

from __future__ import annotations

from brightsync.connector.checks.run import CheckRun
from brightsync.connector.contract import API
from brightsync.connector.probe import Failed


def auth(run: CheckRun, nobody: str) -> str:
    path = f"{API}/contacts/lookup"
    params = {"emails": nobody}
    mine = run.probe.call("GET", path, params=params)
    if mine.status in (401, 403):
        raise Failed(f"the credentials given are refused: {mine.describe()}")
    anonymous = run.probe.call("GET", path, params=params, auth=False)
    wrong = run.probe.call(
        "GET",
        path,
        params=params,
        auth=False,
        headers={"Authorization": f"Bearer wrong-{run.id}"},
    )
    for reply, who in ((anonymous, "without credentials"), (wrong, "with a wrong token")):
        if reply.ok:
            raise Failed(f"a request {who} was answered {reply.status}: anyone can read this CRM")
        if reply.status not in (401, 403):
            raise Failed(f"a request {who} got {reply.describe()} instead of 401/403")
    return f"requests without or with wrong credentials get {anonymous.status}/{wrong.status}"
