"""An email sync in review mode: the live run's delta read and page plan (`email.delta`,
`email.plan`) without the apply. Every message is planned and its contacts looked up; nothing
is claimed or written, and the delta position stays where it was (see `review.mode`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from brightsync.email import plan
from brightsync.email.context import EmailContext, load_context
from brightsync.email.delta import read_delta
from brightsync.review import mode
from brightsync.sync.run import RunContext


def review_mailbox(user_id: int, run: RunContext) -> None:
    ctx = load_context(user_id)
    try:
        review = _Review(ctx)
        read_delta(ctx, run, review, keep_position=False)
        mode.record(user_id, "email", review.report())
    finally:
        ctx.close()


class _Review:
    """The plan of every page, as a report: one entry per message to log (or to park in the
    sync cache), counts of the rest by reason."""

    def __init__(self, ctx: EmailContext) -> None:
        self.ctx = ctx
        self.restart()

    def restart(self) -> None:
        """The delta is read again: the report starts over."""
        self.items: dict[str, dict[str, Any]] = {}
        self.skipped: Counter[str] = Counter()
        self.seen = 0

    def read(self, records: list[Any]) -> None:
        # No mailbox knowledge passed in: review claims nothing, so no copy waits.
        page = plan.plan_page(records, self.ctx.policy)
        self.seen += page.counts["messages"]
        for step in page.steps:
            if isinstance(step, plan.Malformed):
                self.skipped["malformed"] += 1
            elif isinstance(step, plan.Sighting):
                self.skipped[step.reason] += 1
            elif not step.decision.should_log:
                self.skipped[step.decision.reason] += 1
            else:
                self.items.setdefault(step.decision.key, self._item(step))

    def progress(self) -> dict[str, int]:
        return {"seen": self.seen, "done": self.seen}

    def _item(self, step: plan.Claim) -> dict[str, Any]:
        decision = step.decision
        addresses = [p.address for p in decision.external]
        matched = self.ctx.matcher.match(addresses)  # a read: looks contacts up, creates none
        leads = self.ctx.matcher.match_leads(plan.lead_lookups(decision, matched))
        create = [
            p.address for p in plan.contacts_to_create(decision, self.ctx.policy, matched, leads)
        ]
        return {
            "key": decision.key,
            "subject": step.subject,
            "direction": decision.direction,
            "from": decision.sender.address if decision.sender else None,
            "matched": [
                {"address": a, "contactId": str(c.get("id"))} for a, c in sorted(matched.items())
            ],
            **(
                {"leads": [{"address": a, "leadId": str(ld.get("id"))} for a, ld in leads.items()]}
                if leads
                else {}
            ),
            "createContacts": create,
            "outcome": plan.outcome(matched, create, leads),
            "reason": decision.reason,
        }

    def report(self) -> dict[str, Any]:
        to_log = [i for i in self.items.values() if i["outcome"] == "log"]
        return {
            "emails": list(self.items.values())[: mode.MAX_ITEMS],
            "counts": {
                "messages": self.seen,
                "toLog": len(to_log),
                "unmatched": len(self.items) - len(to_log),
                "contactsToCreate": len({a for i in to_log for a in i["createContacts"]}),
                "skipped": dict(self.skipped),
            },
        }
