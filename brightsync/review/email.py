"""An email sync in review mode: decide every message and look up its contacts, claim
nothing, write nothing, and leave the delta position where it was (see `review.mode`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from brightsync.clients.aurinko import SyncTokenExpired
from brightsync.email.context import EmailContext, load_context
from brightsync.email.mailbox import DEFAULT_INITIAL_DAYS, _tokens
from brightsync.email.rules import classify, creation_candidates
from brightsync.review import mode


def review_mailbox(user_id: int, run: Any) -> None:
    ctx = load_context(user_id)
    try:
        try:
            report = _review(ctx, run)
        except SyncTokenExpired:
            # A dead position: start from a fresh one (live would do the same, claims or not).
            run.checkpoint(updated_token=None, resume_token=None)
            report = _review(ctx, run)
        mode.record(user_id, "email", report)
    finally:
        ctx.close()


def _review(ctx: EmailContext, run: Any) -> dict[str, Any]:
    token, resume = _tokens(run.state_id)
    if token is None:
        # The starting position only: storing it consumes nothing, live reads from it too.
        days = int(ctx.settings["email"].get("initialDays", DEFAULT_INITIAL_DAYS))
        token = ctx.aurinko.start_sync("email", days_within=days, body_type="html").updated_token
        run.checkpoint(updated_token=token, resume_token=None)
    items: dict[str, dict[str, Any]] = {}
    skipped: Counter[str] = Counter()
    seen = 0
    for page in ctx.aurinko.delta_pages("email", "updated", token, page_token=resume):
        for msg in page.records:
            seen += 1
            item = _review_message(ctx, msg)
            if item is None:
                skipped["malformed"] += 1
            elif item["outcome"] == "skip":
                skipped[item["reason"]] += 1
            else:
                items.setdefault(item["key"], item)
        run.renew(progress={"seen": seen, "done": seen})
    to_log = [i for i in items.values() if i["outcome"] == "log"]
    return {
        "emails": list(items.values())[: mode.MAX_ITEMS],
        "counts": {
            "messages": seen,
            "toLog": len(to_log),
            "unmatched": len(items) - len(to_log),
            "contactsToCreate": len({a for i in to_log for a in i["createContacts"]}),
            "skipped": dict(skipped),
        },
    }


def _review_message(ctx: EmailContext, msg: Any) -> dict[str, Any] | None:
    if not isinstance(msg, dict) or not msg.get("id"):
        return None
    decision = classify(msg, ctx.policy)
    if not decision.key:
        return None
    if not decision.should_log:
        return {"key": decision.key, "outcome": "skip", "reason": decision.reason}
    addresses = [p.address for p in decision.external]
    matched = ctx.matcher.match(addresses)  # a read: looks contacts up, creates none
    create = [
        p.address for p in creation_candidates(decision, ctx.policy) if p.address not in matched
    ]
    subject = msg.get("subject")
    return {
        "key": decision.key,
        "subject": subject if isinstance(subject, str) else None,
        "direction": decision.direction,
        "from": decision.sender.address if decision.sender else None,
        "matched": [
            {"address": a, "contactId": str(c.get("id"))} for a, c in sorted(matched.items())
        ],
        "createContacts": create,
        "outcome": "log" if matched or create else "unmatched",
        "reason": decision.reason,
    }
