"""A synced day's rows for many mailboxes without syncing them (`--background rows`).

A few template mailboxes are synced through the product (`run_once`, as the task does);
their rows in the email tables are then bulk-inserted (SQLAlchemy Core, executemany) for
every other background mailbox, with ids, colleague addresses, message ids, provider ids
and thread ids rewritten so every unique key holds. Nothing is synced for the copies: they
only put a day's worth of rows in the tables the per-mailbox work and the sweepers read.

Copies go in blocks the size of the template set, mailbox k of a block copying template k,
so a message one template claimed and the next one sighted (the cc to colleague i+1) is
claimed and sighted by the same neighbours in every block, under that block's keys.

Mostly finished states, as the templates end (logged), plus a small due-later fraction
turned from logged copies: 1 in `DUE_LATER` claims waits for the sender's copy (wait over
in an hour, after the benchmark) and 1 in `DUE_LATER` is parked in the unmatched cache with
its retry tomorrow, written as `sync_cache.cache.park` writes them. Each copied mailbox also
gets the sync state (cursors, counters, last sync) of its template and one notification
audit row per message copy it holds (`intake.audit_row`, received over the past day).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

TEMPLATES = 10  # mailboxes synced through the product and copied
DUE_LATER = 50  # 1 in 50 copied claims waits, 1 in 50 is parked unmatched
FLUSH = 5000  # rows per executemany
_USER = re.compile(r"^user(\d+)@acme\.com$")
_COPIED = ("email_claim", "email_sighting", "email_participant", "thread_key", "thread_alias")


def _prefixed(value: str | None, block: int, limit: int) -> str | None:
    """A message id / key / provider id made unique to the block ("<x@y>" stays bracketed)."""
    if value is None:
        return None
    if value.startswith("<"):
        return f"<b{block}.{value[1:]}"[:limit]
    return f"b{block}.{value}"[:limit]


def _thread(thread_id: str | None, block: int) -> str | None:
    if thread_id is None:
        return None
    return uuid.uuid5(uuid.NAMESPACE_OID, f"{block}:{thread_id}").hex


def copy_background(
    accounts: list[dict], user_ids: list[int], templates: list[int], targets: range
) -> dict[str, int]:
    """Copy the templates' rows to the mailboxes at `targets` (indexes into user_ids, in
    blocks of len(templates) following the templates); rows inserted by table."""
    from sqlalchemy import bindparam, func, insert, select, text, update

    from brightsync.db import session_scope
    from brightsync.models import (
        EmailClaim,
        EmailParticipant,
        EmailSighting,
        Notification,
        SyncState,
        ThreadAlias,
        ThreadKey,
        UnmatchedItem,
        utcnow,
    )
    from brightsync.sync.intake import audit_row

    n = len(user_ids)
    first = user_ids.index(templates[0])  # mailbox number of template 0
    index_of = {uid: user_ids.index(uid) - first for uid in templates}
    now = utcnow()
    with session_scope() as s:
        claims = [dict(r._mapping) for r in s.execute(select(EmailClaim.__table__))]
        sightings = [dict(r._mapping) for r in s.execute(select(EmailSighting.__table__))]
        participants = [dict(r._mapping) for r in s.execute(select(EmailParticipant.__table__))]
        thread_keys = [dict(r._mapping) for r in s.execute(select(ThreadKey.__table__))]
        aliases = [dict(r._mapping) for r in s.execute(select(ThreadAlias.__table__))]
        states = {
            r.user_id: dict(r._mapping)
            for r in s.execute(select(SyncState.__table__).where(SyncState.service == "email"))
            if r.user_id in index_of
        }
        next_claim = (s.scalar(select(func.max(EmailClaim.id))) or 0) + 1
    # Only the templates have been synced: every email row is theirs.
    assert all(c["owner_user_id"] in index_of for c in claims), "sync the templates first"
    by_claim: dict[int, list[dict]] = {}
    for p in participants:
        by_claim.setdefault(p["claim_id"], []).append(p)
    copies = {uid: 0 for uid in templates}  # message copies each template holds
    for c in claims:
        copies[c["owner_user_id"]] += 1
    for w in sightings:
        copies[w["user_id"]] += 1

    out = dict.fromkeys((*_COPIED, "unmatched_item", "notification", "sync_state"), 0)
    pending: dict[Any, list[dict]] = {}

    def add(table: Any, row: dict) -> None:
        pending.setdefault(table, []).append(row)

    def flush(s: Any, force: bool = False) -> None:
        # Claims first: participants point at them.
        for table in (EmailClaim, EmailParticipant, EmailSighting, ThreadKey, ThreadAlias):
            rows = pending.get(table) or []
            if rows and (force or len(rows) >= FLUSH):
                s.connection().execute(insert(table.__table__), rows)
                out[table.__tablename__] += len(rows)
                rows.clear()
        for table in (UnmatchedItem, Notification):
            rows = pending.get(table) or []
            if rows and (force or len(rows) >= FLUSH):
                s.connection().execute(insert(table.__table__), rows)
                out[table.__tablename__] += len(rows)
                rows.clear()
        rows = pending.get(SyncState) or []
        if rows and (force or len(rows) >= FLUSH):
            table = SyncState.__table__
            s.connection().execute(
                update(table)
                .where(table.c.user_id == bindparam("uid"), table.c.service == "email")
                .values({k: bindparam(k) for k in rows[0] if k != "uid"}),
                rows,
            )
            out["sync_state"] += len(rows)
            rows.clear()

    size = len(templates)
    count = 0
    with session_scope() as s:
        for block, start in enumerate(range(targets.start, targets.stop, size)):
            base = start  # the block's mailbox number for template 0

            def colleague(address: str, base: int = base) -> str:
                m = _USER.match(address)
                return f"user{(int(m.group(1)) - first + base) % n}@acme.com" if m else address

            uid_of = {t: user_ids[base + k] for t, k in index_of.items() if base + k < targets.stop}
            new_id: dict[int, int] = {}
            for c in claims:
                owner = uid_of.get(c["owner_user_id"])
                if owner is None:
                    continue
                row = dict(c, id=next_claim, owner_user_id=owner)
                new_id[c["id"]] = next_claim
                next_claim += 1
                row["message_key"] = _prefixed(c["message_key"], block, 255)
                row["internet_message_id"] = _prefixed(c["internet_message_id"], block, 998)
                row["provider_message_id"] = _prefixed(c["provider_message_id"], block, 500)
                row["thread_id"] = _thread(c["thread_id"], block)
                row["participants"] = [colleague(a) for a in c["participants"] or []] or None
                row["addresses"] = [colleague(a) for a in c["addresses"] or []] or None
                count += 1
                if c["state"] == "logged" and count % DUE_LATER == 0:
                    # Still waiting for the sender's copy, over after the benchmark.
                    row.update(
                        state="waiting",
                        reason="waiting for the sender's copy",
                        crm_email_id=None,
                        related_to=None,
                        decided_at=None,
                        wait_until=now + timedelta(hours=1),
                    )
                elif c["state"] == "logged" and count % DUE_LATER == DUE_LATER // 2:
                    row.update(state="unmatched", reason="no matching contact")
                    row.update(crm_email_id=None, related_to=None)
                    add(
                        UnmatchedItem,
                        {  # as sync_cache.cache.park writes it, default settings
                            "org_id": c["org_id"],
                            "kind": "email",
                            "key": row["message_key"],
                            "user_id": owner,
                            "subject": row["subject"],
                            "addresses": sorted(set(row["addresses"] or []))[:200],
                            "reason": "no matching contact",
                            "attempts": 0,
                            "next_retry_at": now + timedelta(hours=24),
                            "expires_at": now + timedelta(days=30),
                            "created_at": now,
                        },
                    )
                add(EmailClaim, row)
                out[f"claims {row['state']}"] = out.get(f"claims {row['state']}", 0) + 1
            for c_id, rows in by_claim.items():
                if c_id in new_id:
                    for p in rows:
                        add(
                            EmailParticipant,
                            _without_id(p, claim_id=new_id[c_id], address=colleague(p["address"])),
                        )
            for w in sightings:
                user = uid_of.get(w["user_id"])
                if user is not None:
                    add(
                        EmailSighting,
                        _without_id(
                            w,
                            user_id=user,
                            message_key=_prefixed(w["message_key"], block, 255),
                            provider_message_id=_prefixed(w["provider_message_id"], block, 500),
                        ),
                    )
            if len(uid_of) == size:  # thread rows are shared by the block's mailboxes
                for t in thread_keys:
                    add(
                        ThreadKey,
                        _without_id(
                            t,
                            key=_prefixed(t["key"], block, 255),
                            thread_id=_thread(t["thread_id"], block),
                        ),
                    )
                for a in aliases:
                    add(
                        ThreadAlias,
                        _without_id(
                            a,
                            old_id=_thread(a["old_id"], block),
                            new_id=_thread(a["new_id"], block),
                        ),
                    )
            for t, user in uid_of.items():
                state = states[t]
                add(
                    SyncState,
                    {
                        "uid": user,
                        **{
                            k: state[k]
                            for k in (
                                "updated_token",
                                "deleted_token",
                                "resume_token",
                                "state",
                                "last_sync_at",
                                "runs",
                                "counters",
                            )
                        },
                    },
                )
                account = accounts[base + index_of[t]]
                for j in range(copies[t]):
                    note = {
                        "subscription": account["subscriptions"][0]["id"],
                        "resource": "/email/messages",
                        "accountId": account["id"],
                        "payloads": [{"id": f"b{block}.{j}", "changeType": "created"}],
                    }
                    digest = hashlib.sha256(f"{account['id']}:{j}".encode()).hexdigest()
                    add(
                        Notification,
                        {
                            **audit_row(note, digest, "coalesced" if j else "enqueued", user),
                            "received_at": now - timedelta(hours=24) * (j + 1) / (copies[t] + 1),
                        },
                    )
            flush(s)
        flush(s, force=True)
        s.execute(
            text(
                "SELECT setval(pg_get_serial_sequence('email_claim', 'id'), "
                "(SELECT max(id) FROM email_claim))"
            )
        )
    return out


def _without_id(row: dict, **changes: Any) -> dict:
    out = {k: v for k, v in row.items() if k != "id"}
    out.update(changes)
    return out


def template_tables(rows: Iterable[str]) -> set[str]:
    """Tables the templates' sync wrote that are not copied (reported, not silently dropped)."""
    return set(rows) - {*_COPIED, "sync_state", "run_stat", "create_intent", "metric_counter"}
