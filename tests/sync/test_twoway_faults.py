"""Events, contacts and tasks under lost answers and killed workers, on both backends.

One user syncs all three two-way domains through the real adapters, real `celery worker`
processes (tests/support/crash_scenario.Fleet, with beat) and both simulators:

1. Every create, on both sides, is stored and then never answered; each worker is SIGKILLed
   while it waits (twice: the first writes of each run, then the next ones).
2. New records and edits on both sides; every create and update is stored and answered 502.
3. Edits again: the CRM's updates are answered after the worker's read timeout, the
   mailbox's hang until the worker is SIGKILLed.

After each phase each record exists exactly once on each side, holding the latest edit, and
a last quiet round writes nothing anywhere.
"""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import Stack, WorkerProcess, wait_for
from tests.support.crash_scenario import Fleet
from tests.support.helpers import activate, seed_contacts, sync_now, wait_subscribed

FAST = {
    "BRIGHTSYNC_LEASE_SECONDS": "5",
    "BRIGHTSYNC_SWEEP_SECONDS": "2",
    "BRIGHTSYNC_CRM_TIMEOUT": "2",
}
OWNER = "u-ann"
DOMAINS = ("calendar", "contacts", "tasks")
HANG = 25.0  # seconds a "never answered" write holds its answer (the worker dies first)
DAVE = {  # a colleague's customer: in the meeting, never in Ann's address book
    "ownerId": "u-bob",
    "firstName": "Dave",
    "lastName": "Customer",
    "emailAddresses": ["dave@customer.com"],
}


def when(days: int, hour: int = 10) -> tuple[str, str]:
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + days * 86400))
    return f"{day}T{hour:02d}:00:00Z", f"{day}T{hour + 1:02d}:00:00Z"


# --- the two sides, one record kind per domain, named by its title ---------------------------


class Sides:
    def __init__(self, stack: Stack, account: dict[str, Any]) -> None:
        self.stack, self.account = stack, account
        self.mailbox_url = f"/_control/accounts/{account['id']}"
        self.days = 1

    # reading: domain -> side -> names, sorted (a name twice is a duplicate)
    def names(self) -> dict[str, dict[str, list[str]]]:
        crm = {k: self.stack.crm("GET", f"/_control/records/{k}").json() for k in KINDS.values()}
        box = {
            k: self.stack.aurinko("GET", f"{self.mailbox_url}/{k}").json()["records"]
            for k in KINDS.values()
        }
        return {
            "calendar": {
                "crm": sorted(e["subject"] for e in crm["events"]),
                "mailbox": sorted(e["subject"] for e in box["events"]),
            },
            "contacts": {
                "crm": sorted(c["firstName"] for c in crm["contacts"] if c["firstName"] != "Dave"),
                "mailbox": sorted(c["name"]["givenName"] for c in box["contacts"]),
            },
            "tasks": {
                "crm": sorted(t["subject"] for t in crm["tasks"]),
                "mailbox": sorted(t["title"] for t in box["tasks"]),
            },
        }

    def _find(self, side: str, domain: str, name: str) -> dict[str, Any]:
        kind = KINDS[domain]
        if side == "crm":
            rows = self.stack.crm("GET", f"/_control/records/{kind}").json()
        else:
            rows = self.stack.aurinko("GET", f"{self.mailbox_url}/{kind}").json()["records"]
        (row,) = [r for r in rows if _name(domain, side, r) == name]
        return row

    # writing, as people do
    def make(self, side: str, domain: str, name: str) -> None:
        self.days += 1
        start, end = when(self.days)
        if side == "crm":
            body = {
                "calendar": {
                    "subject": name,
                    "startTime": start,
                    "endTime": end,
                    "attendees": [
                        {"userId": OWNER, "emailAddress": "ann@acme.com"},
                        {"emailAddress": "dave@customer.com"},
                    ],
                },
                "contacts": {
                    "ownerId": OWNER,
                    "firstName": name,
                    "lastName": "Person",
                    "emailAddresses": [f"{name.lower()}@example.org"],
                },
                "tasks": {"ownerId": OWNER, "subject": name, "status": "notStarted"},
            }[domain]
            r = self.stack.crm("POST", f"/api/v1/{KINDS[domain]}", json=body)
        elif domain == "calendar":
            body = {
                "organizer": {"address": "ann@acme.com"},
                "subject": name,
                "start": {"dateTime": start, "timezone": "UTC"},
                "end": {"dateTime": end, "timezone": "UTC"},
                "meetingInfo": {"attendees": [{"emailAddress": {"address": "dave@customer.com"}}]},
            }
            r = self.stack.aurinko("POST", "/_control/meetings", json=body)
        else:
            body = {
                "contacts": {
                    "name": {"givenName": name, "familyName": "Person"},
                    "emailAddresses": [{"address": f"{name.lower()}@example.org"}],
                },
                "tasks": {"title": name},
            }[domain]
            r = self.stack.aurinko("POST", f"{self.mailbox_url}/{KINDS[domain]}", json=body)
        assert r.status_code in (200, 201), r.text

    def rename(self, side: str, domain: str, old: str, new: str) -> None:
        row = self._find(side, domain, old)
        if side == "crm":
            field = {"calendar": "subject", "contacts": "firstName", "tasks": "subject"}[domain]
            r = self.stack.crm("PATCH", f"/api/v1/{KINDS[domain]}/{row['id']}", json={field: new})
        else:
            if domain == "contacts":
                body = {"name": {**row["name"], "givenName": new}}
            else:
                body = {"subject" if domain == "calendar" else "title": new}
            r = self.stack.aurinko(
                "PATCH", f"{self.mailbox_url}/{KINDS[domain]}/{row['id']}", json=body
            )
        assert r.status_code == 200, r.text

    # faults on BrightSync's own writes
    def paths(self, side: str, domain: str) -> str:
        if side == "crm":
            return f"/api/v1/{KINDS[domain]}"
        return {
            "calendar": "/v1/calendars/primary/events",
            "contacts": "/v1/contacts",
            "tasks": "/v1/tasklists/default/tasks",  # no list configured: the default one
        }[domain]

    def lose(self, side: str, method: str, **how: Any) -> None:
        """The next create (POST) or update (PATCH) of each domain on `side` is carried out
        and its answer lost: `status` (e.g. 502) or held for `delay` seconds."""
        for domain in DOMAINS:
            path = self.paths(side, domain) + ("/" if method == "PATCH" else "")
            if side == "crm":
                spec = {"path": path, "method": method, "count": 1, "afterWrite": True}
                spec |= {"status": how.get("status"), "delaySeconds": how.get("delay", 0)}
                self.stack.crm("POST", "/_control/faults", json=spec).raise_for_status()
            else:
                spec = {"pathPrefix": path, "method": method, "count": 1, "afterWrite": True}
                spec |= {"exact": method == "POST", **how}
                self.stack.aurinko("POST", "/_control/faults", json=spec).raise_for_status()

    def faults_left(self) -> int:
        crm = self.stack.crm("GET", "/_control/faults").json()["faults"]
        box = self.stack.aurinko("GET", "/_control/faults").json()["faults"]
        return len(crm) + len(box)


KINDS = {"calendar": "events", "contacts": "contacts", "tasks": "tasks"}


def _name(domain: str, side: str, row: dict[str, Any]) -> str:
    if domain == "contacts":
        return row["firstName"] if side == "crm" else row["name"]["givenName"]
    return row["subject"] if side == "crm" or domain == "calendar" else row["title"]


# --- the scenario ----------------------------------------------------------------------------


def settled(stack: Stack, user_id: int) -> bool:
    status = stack.admin("GET", f"/api/v1/users/{user_id}").json()["status"]
    return all(status[d]["runs"] >= 1 and status[d]["state"] == "idle" for d in DOMAINS)


def converge(stack: Stack, sides: Sides, user_id: int, want: dict[str, list[str]]) -> None:
    """Until every domain holds exactly `want` on both sides and its runs are done. CRM-side
    changes have no webhook: "sync now" stands for the next periodic run."""
    expected = {d: {"crm": sorted(n), "mailbox": sorted(n)} for d, n in want.items()}
    last: dict[str, Any] = {}

    def done() -> bool:
        last["names"] = sides.names()
        if last["names"] == expected and settled(stack, user_id):
            return True
        if not any(_running(stack, user_id, d) for d in DOMAINS):
            sync_now(stack, user_id)
        return False

    try:
        wait_for(done, timeout=60, interval=1.0, message="the two sides to agree")
    except AssertionError:
        raise AssertionError(f"not converged: {last.get('names')} != {expected}") from None


def _running(stack: Stack, user_id: int, domain: str) -> bool:
    state = stack.admin("GET", f"/api/v1/users/{user_id}").json()["status"][domain]["state"]
    return state in ("queued", "running")


def kill_when_hung(fleet: Fleet, sides: Sides, armed: int, taken: int, timeout: float = 20) -> None:
    """SIGKILL the workers once `taken` of the `armed` injected faults hold writes (at least
    one, or fail), or after `timeout` seconds. `armed` is counted when the faults are set,
    before anything that starts a run (registration does), so a fault taken meanwhile counts."""
    before = armed
    deadline = time.monotonic() + timeout
    while sides.faults_left() > before - taken and time.monotonic() < deadline:
        time.sleep(0.2)
    left = sides.faults_left()
    assert left < before, f"no write was held when the workers were killed ({left} left)"
    time.sleep(0.5)  # the write is stored before its answer is held
    fleet.kill()
    # A fault no run reached by then is not left to hold a later write for HANG seconds.
    sides.stack.crm("DELETE", "/_control/faults")
    sides.stack.aurinko("DELETE", "/_control/faults")


def test_two_way_domains_survive_lost_answers_and_killed_workers(clean_stack: Stack) -> None:
    stack = clean_stack
    assert stack.worker is not None
    stack.worker.stop()  # only the fleet under test may work
    fleet = Fleet(stack, FAST, workers=1, concurrency=3)
    try:
        _scenario(stack, fleet)
    except BaseException:
        print(fleet.log_tail(12000))  # the fleet's logs, in the failure report
        raise
    finally:
        fleet.stop()
        stack.crm("DELETE", "/_control/faults")
        stack.aurinko("DELETE", "/_control/faults")
        stack.worker = WorkerProcess(stack.env, stack.backend.workdir, "main")


def _scenario(stack: Stack, fleet: Fleet) -> None:
    seed_contacts(stack, DAVE)
    stack.crm(
        "POST", "/_control/seed", json={"users": [{"id": OWNER, "email": "ann@acme.com"}]}
    ).raise_for_status()
    r = stack.admin(
        "POST",
        "/api/v1/orgs",
        json={
            "name": "Acme",
            "domains": ["acme.com"],
            "crm": {"baseUrl": stack.crm_url, "authType": "bearer", "token": "sandbox-crm-token"},
            "settings": {},
        },
    )
    assert r.status_code == 201, r.text
    org_id = r.json()["id"]
    account = stack.aurinko(
        "POST",
        "/_control/accounts",
        json={"email": "ann@acme.com", "name": "Ann", "provider": "office365"},
    ).json()
    sides = Sides(stack, account)

    # 1. Stored, never answered, the worker killed while it waits: twice.
    want = {d: [f"{d[:3].title()}Box", f"{d[:3].title()}Crm"] for d in DOMAINS}
    for domain in DOMAINS:
        sides.make("mailbox", domain, f"{domain[:3].title()}Box")
        sides.make("crm", domain, f"{domain[:3].title()}Crm")
    sides.lose("crm", "POST", delay=HANG)
    sides.lose("mailbox", "POST", delay=HANG)
    armed = sides.faults_left()
    fleet.start_beat()
    fleet.start()
    user_id = activate(stack, org_id, "ann@acme.com", account, list(DOMAINS), OWNER)
    wait_subscribed(stack, user_id)
    kill_when_hung(fleet, sides, armed, taken=3)  # one write in each domain's first run...
    sides.lose("crm", "POST", delay=HANG)
    sides.lose("mailbox", "POST", delay=HANG)
    armed = sides.faults_left()
    fleet.start()
    kill_when_hung(fleet, sides, armed, taken=3)  # ...and the other side's in the second
    fleet.start()
    converge(stack, sides, user_id, want)

    # 2. New records and edits on both sides; every create and update answered 502.
    for domain in DOMAINS:
        short = domain[:3].title()
        sides.make("mailbox", domain, f"{short}Box2")
        sides.make("crm", domain, f"{short}Crm2")
        sides.rename("mailbox", domain, f"{short}Crm", f"{short}CrmEdited")
        sides.rename("crm", domain, f"{short}Box", f"{short}BoxEdited")
        want[domain] = [f"{short}BoxEdited", f"{short}CrmEdited", f"{short}Box2", f"{short}Crm2"]
    for side in ("crm", "mailbox"):
        sides.lose(side, "POST", status=502)
        sides.lose(side, "PATCH", status=502)
    sync_now(stack, user_id)
    converge(stack, sides, user_id, want)
    assert sides.faults_left() == 0, "a lost answer was not played"

    # 3. Edits whose answers are lost: the CRM's after the read timeout, the mailbox's until
    #    the worker is killed.
    for domain in DOMAINS:
        short = domain[:3].title()
        sides.rename("mailbox", domain, f"{short}Crm2", f"{short}Crm3")
        sides.rename("crm", domain, f"{short}Box2", f"{short}Box3")
        want[domain] = [f"{short}BoxEdited", f"{short}CrmEdited", f"{short}Box3", f"{short}Crm3"]
    sides.lose("crm", "PATCH", delay=int(FAST["BRIGHTSYNC_CRM_TIMEOUT"]) + 2)
    sides.lose("mailbox", "PATCH", delay=HANG)
    armed = sides.faults_left()
    sync_now(stack, user_id)
    kill_when_hung(fleet, sides, armed, taken=6, timeout=12)
    fleet.start()
    converge(stack, sides, user_id, want)

    # A quiet round (webhooks of our own writes included) writes nothing anywhere.
    stack.aurinko("POST", "/_control/webhooks/flush", json={})
    wait_for(lambda: not any(_running(stack, user_id, d) for d in DOMAINS), timeout=30)
    stack.aurinko("POST", "/_control/stats/reset")
    stack.crm("POST", "/_control/stats/reset")
    sync_now(stack, user_id)
    time.sleep(1)
    wait_for(lambda: not any(_running(stack, user_id, d) for d in DOMAINS), timeout=30)
    ops = {
        **stack.aurinko("GET", "/_control/stats").json()["byOperation"],
        **stack.crm("GET", "/_control/stats").json()["byOperation"],
    }
    writes = {op: n for op, n in ops.items() if op.rsplit(".", 1)[-1] in WRITES}
    assert writes == {}, writes
    assert sides.names() == {d: {"crm": sorted(n), "mailbox": sorted(n)} for d, n in want.items()}


WRITES = ("create", "update", "delete")
