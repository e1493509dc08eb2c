"""Calendar benchmark through the engine: every CRM and Aurinko call per synced meeting when
N colleagues attend every meeting, and what a daily series costs per occurrence.

**Meetings.** N internal attendees (1, 2, 5, 10) each hold a copy of M meetings with a known
customer. Each colleague's calendar sync runs as a worker runs it, `run_once` of the
"calendar" service (the two-way engine: its CRM reads, the mailbox delta, the org-wide
meeting claims, matching and the creates), the organizer's last (the worst order: the
attendees claim first, the organizer takes over). Baseline in the same run: the naive
per-calendar approach (each calendar reads its events and finds-or-creates each in the CRM).
Every call is counted by the simulators, by operation; the connector's capabilities are
learned first by a newcomer's run (as the org's first run of the hour learns them), counted
apart. Each BrightSync round runs again with 2M meetings: what a meeting more adds.
Target: CRM calls per meeting <= 2 + 1/N, and a meeting more adding the same calls at
every N; one CRM event per meeting, its N colleagues and the customer on it.

**A daily series.** One daily meeting with the customer, synced by its organizer's
`run_once` over windows of growing length (`pastDays`..`futureDays`); baseline: the default
window (30 + 180 days), same run. Target: every occurrence of the window in the CRM, and a
longer window costing no more calls and at most 1.5x the CPU time per occurrence.

Any answer outside 2xx from either simulator, a run that does not end "ok" or a meeting
missing from the CRM stops the benchmark with an error: nothing is counted around it.

    python bench/calendar_sync.py [--meetings 20] [--attendees 1,2,5,10]
                                  [--windows 7:7,30:180,365:365]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import (  # noqa: E402
    CRM_TOKEN,
    add_accounts,
    add_org,
    configure,
    reset_simulators,
    reset_stats,
    seed_crm,
    simulators,
    stats,
    wipe_tables,
)

CUSTOMER = "dave@customer.com"
OTHER = "erin@other.com"  # the newcomer's own customer
WARM_UP = "Warm-up"


class BenchError(RuntimeError):
    """The benchmark saw something it must not count around (an error answer, a gap)."""


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = requests.post(url, timeout=30, json=body)
    answer.raise_for_status()
    return answer.json()


def scenario(aurinko: str, crm: str, n: int) -> list[dict[str, Any]]:
    """Both simulators emptied; the customer a CRM contact, N colleagues CRM users with a
    mailbox each, and one more colleague in no meeting (whose run learns the connector's
    capabilities first); returns the accounts (the first organises, the last is the
    newcomer)."""
    reset_simulators(aurinko, crm)
    seed_crm(
        crm,
        {
            "contacts": [
                {"firstName": "Dave", "lastName": "Customer", "emailAddresses": [CUSTOMER]},
                {"firstName": "Erin", "lastName": "Other", "emailAddresses": [OTHER]},
            ],
            "users": [{"id": f"u{i}", "email": f"user{i}@acme.com"} for i in range(n + 1)],
        },
    )
    return add_accounts(aurinko, n + 1, "google")


def add_meetings(aurinko: str, accounts: list[dict[str, Any]], m: int) -> None:
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    invited = [{"emailAddress": {"address": a["email"]}} for a in accounts[1:]]
    for j in range(m):
        at = start + timedelta(hours=j)
        post(
            aurinko + "/_control/meetings",
            {
                "organizer": {"address": accounts[0]["email"]},
                "subject": f"Meeting {j}",
                "start": {"dateTime": at.isoformat(), "timezone": "UTC"},
                "end": {"dateTime": (at + timedelta(minutes=30)).isoformat(), "timezone": "UTC"},
                "meetingInfo": {"attendees": [*invited, {"emailAddress": {"address": CUSTOMER}}]},
            },
        )


def traffic(url: str) -> tuple[Counter[str], dict[str, int]]:
    """A simulator's calls by operation since the last reset; fails on any non-2xx answer."""
    s = stats(url)
    bad = {code: k for code, k in s.get("byStatus", {}).items() if not code.startswith("2")}
    if bad:
        raise BenchError(f"{url} answered outside 2xx: {bad} (calls: {s['byOperation']})")
    return Counter(s["byOperation"]), s.get("byStatus", {})


def crm_events(crm: str) -> list[dict[str, Any]]:
    """The CRM's events but the newcomer's warm-up meeting."""
    answer = requests.get(crm + "/_control/records/events", timeout=30)
    answer.raise_for_status()
    return [e for e in answer.json() if e.get("subject") != WARM_UP]


def check_meetings(crm: str, m: int, n: int) -> None:
    """Exactly one CRM event per meeting, with the N colleagues (as CRM users) and the
    customer (related to the contact) on it."""
    events = crm_events(crm)
    subjects = Counter(e.get("subject") for e in events)
    wanted = {f"Meeting {j}" for j in range(m)}
    if set(subjects) != wanted or any(k != 1 for k in subjects.values()):
        raise BenchError(f"CRM events are not one per meeting: {dict(subjects)}")
    for event in events:
        users = {a.get("userId") for a in event.get("attendees") or [] if a.get("userId")}
        if users != {f"u{i}" for i in range(n)}:
            raise BenchError(f"{event.get('subject')}: colleagues {users}, not all {n}")
        if not (event.get("relatedTo") or {}).get("contacts"):
            raise BenchError(f"{event.get('subject')}: not related to the customer's contact")


def naive(aurinko: str, crm: str, accounts: list[dict[str, Any]]) -> None:
    """The baseline: every calendar reads its events and finds-or-creates each in the CRM,
    looking its people up each time (no claims, no run cache)."""
    from brightsync.clients.aurinko import AurinkoClient
    from brightsync.clients.crm import CrmClient

    client = CrmClient(crm, "bearer", {"token": CRM_TOKEN}, rate_key="bench", rate_limit=100000)
    for acct in accounts:
        mailbox = AurinkoClient.for_account(aurinko, acct["accessToken"], rate_limit=100000)
        tokens = mailbox.start_sync("calendar")
        for page in mailbox.delta_pages("calendar", "updated", tokens.updated_token):
            for event in page.records:
                start = event["start"]["dateTime"]
                same = [
                    e
                    for e in client.events_in_window(
                        start, datetime.fromisoformat(start) + timedelta(minutes=1)
                    )
                    if e.get("subject") == event.get("subject")
                ]
                if same:
                    continue
                organizer = event["organizer"]["emailAddress"]["address"]
                people = [organizer] + [
                    a["emailAddress"]["address"] for a in event["meetingInfo"]["attendees"]
                ]
                contacts = client.lookup_contacts(people)
                client.forget(people)  # a naive sync keeps no run cache
                users = client.lookup_users(people)
                user_ids = {u["email"]: u["id"] for u in users}
                client.create_event(
                    {
                        "subject": event.get("subject"),
                        "startTime": start,
                        "endTime": event["end"]["dateTime"],
                        "attendees": [
                            {
                                "emailAddress": p,
                                **({"userId": user_ids[p]} if p in user_ids else {}),
                            }
                            for p in people
                        ],
                        "relatedTo": {"contacts": [c["id"] for c in contacts]},
                    }
                )


def engine(ids: list[int]) -> None:
    """Each colleague's calendar sync as a worker runs it, in this order."""
    from brightsync.domains import DOMAINS
    from brightsync.sync.run import run_once

    for uid in ids:
        result = run_once(uid, "calendar", DOMAINS["calendar"])
        if result.get("status") != "ok":
            raise BenchError(f"calendar run of user {uid}: {result}")


def learn_capabilities(
    aurinko: str, crm: str, account: dict[str, Any], newcomer: int
) -> Counter[str]:
    """The newcomer's run (one meeting with another customer, a week on) learns what the
    connector offers, as the org's first run of the hour does (kept per org for an hour);
    its CRM calls, by operation."""
    at = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=7)
    post(
        aurinko + "/_control/meetings",
        {
            "organizer": {"address": account["email"]},
            "subject": WARM_UP,
            "start": {"dateTime": at.isoformat(), "timezone": "UTC"},
            "end": {"dateTime": (at + timedelta(minutes=30)).isoformat(), "timezone": "UTC"},
            "meetingInfo": {"attendees": [{"emailAddress": {"address": OTHER}}]},
        },
    )
    reset_stats(aurinko, crm)
    engine([newcomer])
    _, c = measure(aurinko, crm)
    return c


def set_window(past: int, future: int) -> None:
    from brightsync.db import session_scope
    from brightsync.models import Organisation

    with session_scope() as s:
        for org in s.query(Organisation).all():
            org.settings = {"calendar": {"pastDays": past, "futureDays": future}}


def measure(aurinko: str, crm: str) -> tuple[Counter[str], Counter[str]]:
    a, _ = traffic(aurinko)
    c, _ = traffic(crm)
    return a, c


def meetings_round(aurinko: str, crm: str, n: int, m: int, approach: str) -> dict[str, Any]:
    accounts = scenario(aurinko, crm, n)
    add_meetings(aurinko, accounts[:n], m)
    wipe_tables()
    ids = add_org(crm, accounts, ["calendar"], crm_user_ids=True)
    discovery = Counter[str]()
    if approach != "naive":
        discovery = learn_capabilities(aurinko, crm, accounts[-1], ids[-1])
    reset_stats(aurinko, crm)
    started = time.perf_counter()
    if approach == "naive":
        naive(aurinko, crm, accounts[:n])
    else:
        # The organizer's last: the attendees claim first, the organizer takes over.
        engine(list(reversed(ids[:n])))
    elapsed = time.perf_counter() - started
    a, c = measure(aurinko, crm)
    check_meetings(crm, m, n)
    return {
        "n": n,
        "approach": approach,
        "aurinko": a,
        "crm": c,
        "seconds": elapsed,
        "discovery": discovery,
    }


def series_round(aurinko: str, crm: str, past: int, future: int) -> dict[str, Any]:
    """One daily series with the customer from `past` days ago to well past the window,
    synced by its organizer over a window of `past`..`future` days."""
    accounts = scenario(aurinko, crm, 1)
    now = datetime.now(UTC)
    first = now.replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=past + 3)
    post(
        aurinko + "/_control/meetings",
        {
            "organizer": {"address": accounts[0]["email"]},
            "subject": "Daily",
            "start": {"dateTime": first.isoformat(), "timezone": "UTC"},
            "end": {"dateTime": (first + timedelta(minutes=15)).isoformat(), "timezone": "UTC"},
            "meetingInfo": {"attendees": [{"emailAddress": {"address": CUSTOMER}}]},
            "recurrence": {
                "simple": {"pattern": {"frequency": "daily"}, "range": {"type": "noEnd"}}
            },
        },
    )
    wipe_tables()
    ids = add_org(crm, accounts, ["calendar"], crm_user_ids=True)
    set_window(past, future)
    learn_capabilities(aurinko, crm, accounts[-1], ids[-1])
    reset_stats(aurinko, crm)
    started, cpu = time.perf_counter(), time.process_time()
    engine(ids[:1])
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    a, c = measure(aurinko, crm)
    # The occurrences whose start lies in the window, as the run saw it (`now` a moment before).
    lo, hi = now - timedelta(days=past), now + timedelta(days=future)
    expected = sum(
        1
        for d in range(past + future + 5)
        if lo <= first + timedelta(days=d) < hi + timedelta(seconds=elapsed + 1)
    )
    events = crm_events(crm)
    made = len(events)
    # A day boundary crossed between `now` and the run may add or drop the last one.
    if abs(made - expected) > 1 or c["events.create"] != made:
        raise BenchError(
            f"window {past}:{future}: {made} CRM events ({c['events.create']} creates), "
            f"{expected} occurrences in the window"
        )
    return {
        "window": (past, future),
        "occurrences": made,
        "aurinko": a,
        "crm": c,
        "seconds": elapsed,
        "cpu": cpu,
    }


def ops(counter: Counter[str], per: int) -> str:
    return ", ".join(f"{op} {k / per:.2f}" for op, k in sorted(counter.items()))


def total(counter: Counter[str]) -> int:
    return sum(counter.values())


def report_meetings(rows: list[dict[str, Any]], m: int) -> bool:
    print(f"\nCalendar sync through the engine: M = {m} meetings, each in N colleagues' calendars")
    print(
        f"{'N':>3}  {'approach':<11} {'CRM calls/mtg':>13} {'target':>7} {'per added mtg':>13} "
        f"{'Aurinko calls/mtg':>17} {'seconds':>8}"
    )
    ok = True
    for r in rows:
        crm_per = total(r["crm"]) / m
        ours = r["approach"] == "BrightSync"
        line = f"{r['n']:>3}  {r['approach']:<11} {crm_per:>13.2f} "
        line += f"{2 + 1 / r['n']:>7.2f} " if ours else f"{'':>7} "
        # Calls a meeting more adds: the same round with 2M meetings, minus this one, over M.
        extra = (total(r["double"]["crm"]) - total(r["crm"])) / m if ours else None
        line += f"{extra:>13.2f} " if extra is not None else f"{'':>13} "
        line += f"{total(r['aurinko']) / m:>17.2f} {r['seconds']:>8.2f}"
        print(line)
        if ours:
            ok &= crm_per <= 2 + 1 / r["n"]
    print("\nBy operation, calls per meeting:")
    for r in rows:
        if r["discovery"]:
            print(
                f"  N={r['n']:<3} capabilities, learned first (calls in all, once per org "
                f"and hour): {ops(r['discovery'], 1)}"
            )
        print(f"  N={r['n']:<3} {r['approach']:<11} CRM: {ops(r['crm'], m)}")
        print(f"  {'':<17}Aurinko: {ops(r['aurinko'], m)}")
    extras = [(total(r["double"]["crm"]) - total(r["crm"])) / m for r in rows if "double" in r]
    flat = bool(extras) and max(extras) - min(extras) <= 0.05
    ok &= flat
    return ok


def report_series(series: list[dict[str, Any]]) -> bool:
    print("\nA daily series with the customer, synced by its organizer through the engine")
    print(
        f"{'window (days)':>14} {'occurrences':>11} {'CRM calls/occ':>13} "
        f"{'Aurinko calls/occ':>17} {'ms/occ':>7} {'CPU ms/occ':>10}"
    )
    for s in series:
        k = s["occurrences"]
        past, future = s["window"]
        print(
            f"{f'{past}+{future}':>14} {k:>11} {total(s['crm']) / k:>13.2f} "
            f"{total(s['aurinko']) / k:>17.2f} {1000 * s['seconds'] / k:>7.1f} "
            f"{1000 * s['cpu'] / k:>10.1f}"
        )
    for s in series:
        print(f"  {s['window'][0]}+{s['window'][1]}: CRM: {ops(s['crm'], s['occurrences'])}")
    # Baseline: the default window (30+180), or the second given. Flat: a longer window costs
    # no more CRM calls per occurrence and at most 1.5x the CPU time per occurrence (CPU of
    # this process: BrightSync and the simulators, which run in it; the wall time on a
    # shared machine moves with the other work).
    base = series[min(1, len(series) - 1)]
    base_calls = total(base["crm"]) / base["occurrences"]
    base_cpu = base["cpu"] / base["occurrences"]
    longer = [s for s in series if s["occurrences"] > base["occurrences"]]
    return all(
        total(s["crm"]) / s["occurrences"] <= base_calls
        and s["cpu"] / s["occurrences"] <= 1.5 * base_cpu
        for s in longer
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meetings", type=int, default=20)
    parser.add_argument("--attendees", default="1,2,5,10")
    parser.add_argument("--windows", default="7:7,30:180,365:365", help="pastDays:futureDays,…")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="brightsync-bench-"))
    m = args.meetings
    rows: list[dict[str, Any]] = []
    series: list[dict[str, Any]] = []
    with simulators(page_size=100) as (aurinko, crm):
        configure(workdir, aurinko)
        for n in [int(x) for x in args.attendees.split(",")]:
            rows.append(meetings_round(aurinko, crm, n, m, "naive"))
            ours = meetings_round(aurinko, crm, n, m, "BrightSync")
            ours["double"] = meetings_round(aurinko, crm, n, 2 * m, "BrightSync")
            rows.append(ours)
        for spec in args.windows.split(","):
            past, future = (int(x) for x in spec.split(":"))
            series.append(series_round(aurinko, crm, past, future))

    met = report_meetings(rows, m)
    flat = report_series(series)
    print(
        "\nTargets: CRM calls per meeting <= 2 + 1/N at every N, a meeting more adding the "
        f"same calls at every N (one CRM event per meeting, checked): {'MET' if met else 'MISSED'}"
        "; a daily series: every occurrence of the window synced (checked), calls and time "
        f"per occurrence flat against the default window: {'MET' if flat else 'MISSED'}"
    )
    sys.exit(0 if met and flat else 1)


if __name__ == "__main__":
    main()
