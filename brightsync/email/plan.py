"""What one page of a mailbox's email delta asks for, decided without I/O (as `sync/twoway.py`
is for the two-way domains).

`plan_page()` takes the page's messages, the organisation's policy and what the database
knows about the page's mailboxes (plain values) and returns one step per message, in page
order: a `Malformed` message is only counted; a `Sighting` is a copy this mailbox cannot use
(draft, junk, trash), recorded beside the claim and never deciding for the organisation; a
`Claim` makes the org-wide claim on the message (or joins the one another mailbox made) to
log it, skip it with its reason, or wait for the sender's copy.

The functions after it decide on what the database answered, as `twoway.settle()` does:
`redecide()` once the claim shows participants other copies revealed, `take_over()` whether
this copy takes the claim over, `route()` where the claim goes next (this run finishes it,
a wait, a late re-link) and `after_reveal()` for an unusable copy. What logging an owned
claim then needs: `lead_lookups()` (who to ask the CRM's leads about), `contacts_to_create()`
(the CRM's matches and leads passed in) and `outcome()`.

`email/mailbox.py` applies a plan (claims, then the writer); review mode (`review/email.py`)
plans the same pages and records the plan instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from brightsync.email.claims import OPEN_STATES, WAITING, ClaimResult, takes_over
from brightsync.email.copies import (
    awaits_sender_copy,
    copy_participants,
    is_sender_copy,
    with_hidden,
)
from brightsync.email.rules import (
    MAILBOX_LOCAL_REASONS,
    Decision,
    EmailPolicy,
    Participant,
    classify,
    creation_candidates,
)

WAITING_REASON = "waiting for the sender's copy"


@dataclass(frozen=True)
class Malformed:
    """A message with nothing to decide on (not a dict, no id, no key)."""

    has_id: bool


@dataclass(frozen=True)
class Sighting:
    """A copy this mailbox cannot use: recorded (with the reason) beside the claim."""

    key: str
    provider_id: str
    reason: str  # draft | junk | trash
    participants: frozenset[str]
    sender_copy: bool

    @property
    def reveals(self) -> bool:
        """Does the copy tell the claim who the message went to? Not a draft: its recipients
        are not final."""
        return self.reason != "draft"


@dataclass(frozen=True)
class Claim:
    """Claim the message for the organisation (or join the claim), in `state`."""

    msg: Mapping[str, Any]
    decision: Decision
    provider_id: str
    participants: frozenset[str]  # what this copy shows
    sender_copy: bool
    state: Literal["claimed", "skipped", "waiting"]
    reason: str | None
    wait_until: datetime | None

    @property
    def subject(self) -> str | None:
        subject = self.msg.get("subject")
        return subject if isinstance(subject, str) else None


Step = Malformed | Sighting | Claim


@dataclass
class PagePlan:
    steps: list[Step] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # decided from the page alone


def plan_page(
    records: Sequence[Any],
    policy: EmailPolicy,
    *,
    mailbox_address: str | None = None,
    registered: Collection[str] = (),
    wait: timedelta = timedelta(0),
    now: datetime | None = None,
) -> PagePlan:
    """One step per message of the page.

    `mailbox_address`: this mailbox's normalised address; `registered`: the normalised
    addresses of the organisation's mailboxes among the page's senders (a colleague's copy of
    their mail waits up to `wait` for the sender's own, from `now`). Without them (review
    mode claims nothing) no copy waits.
    """
    plan = PagePlan()
    for msg in records:
        plan.counts["messages"] += 1
        step = _step(msg, policy, mailbox_address, registered, wait, now)
        if isinstance(step, Malformed):
            plan.counts["malformed"] += 1
        elif isinstance(step, Sighting):
            plan.counts[f"skipped_{step.reason}"] += 1
        plan.steps.append(step)
    return plan


def _step(
    msg: Any,
    policy: EmailPolicy,
    mailbox_address: str | None,
    registered: Collection[str],
    wait: timedelta,
    now: datetime | None,
) -> Step:
    if not isinstance(msg, dict) or not msg.get("id"):
        return Malformed(has_id=False)
    decision = classify(msg, policy)
    if not decision.key:
        return Malformed(has_id=True)
    provider_id = str(msg["id"])[:500]
    view = copy_participants(msg)
    sender_copy = is_sender_copy(msg, decision, mailbox_address)
    if not decision.should_log and decision.reason in MAILBOX_LOCAL_REASONS:
        return Sighting(decision.key, provider_id, decision.reason, view, sender_copy)
    waits = bool(wait) and awaits_sender_copy(
        decision,
        sender_registered=decision.sender is not None and decision.sender.address in registered,
        sender_copy=sender_copy,
    )
    if waits:
        assert now is not None, "a wait needs the time it starts"
        return Claim(
            msg, decision, provider_id, view, sender_copy, "waiting", WAITING_REASON, now + wait
        )
    if decision.should_log:
        return Claim(msg, decision, provider_id, view, sender_copy, "claimed", None, None)
    return Claim(msg, decision, provider_id, view, sender_copy, "skipped", decision.reason, None)


def redecide(
    step: Claim, known: frozenset[str], policy: EmailPolicy
) -> tuple[Mapping[str, Any], Decision]:
    """The message and decision on everything known: other copies may have shown more
    participants (the sender's Bcc) than this one."""
    if not known - step.participants:
        return step.msg, step.decision
    msg = with_hidden(step.msg, known)
    return msg, classify(msg, policy)


@dataclass(frozen=True)
class TakeOver:
    state: Literal["claimed", "skipped"]
    reason: str | None
    counter: str  # "waited" (the sender's copy ended a wait) or "reopened"


def take_over(step: Claim, decision: Decision, result: ClaimResult) -> TakeOver | None:
    """Does this copy take another mailbox's claim over, and decide it as what?"""
    changed = decision.should_log or decision.reason != result.reason
    if result.owned or not changed:
        return None
    if not takes_over(
        result.state, result.reason, revealed=bool(result.revealed), sender_copy=step.sender_copy
    ):
        return None
    counter = "waited" if result.state == WAITING else "reopened"
    if decision.should_log:
        return TakeOver("claimed", None, counter)
    return TakeOver("skipped", decision.reason, counter)


Next = Literal["finish", "wait", "late"]


def route(decision: Decision, result: ClaimResult) -> tuple[Next | None, str | None]:
    """(where the claim goes next, the counter it adds to): "finish" (this run logs it),
    "wait" (for the sender's copy), "late" (logged already; this copy showed more people)."""
    if result.owned and result.state == WAITING:
        counter: str | None = "waiting_for_sender_copy"
    elif not decision.should_log:
        counter = f"skipped_{decision.reason}"
    elif not result.owned:
        counter = "deduplicated"
    else:
        counter = None
    if result.state == "logged" and result.revealed:
        return "late", counter
    if result.owned and result.state == WAITING:
        return "wait", counter
    if result.owned and result.state in OPEN_STATES:
        return "finish", counter
    return None, counter


def after_reveal(seen: ClaimResult, sender_copy: bool) -> Literal["end", "late"] | None:
    """What an unusable copy's participants do to the claim: "end" its owner decides now on
    everything known (a wait the sender's copy ends, a partial skip reopened), "late" a
    logged email gets the people this copy showed."""
    if (seen.state == WAITING and sender_copy) or (seen.state == "claimed" and seen.revealed):
        return "end"
    if seen.state == "logged" and seen.revealed:
        return "late"
    return None


def lead_lookups(decision: Decision, matched: Mapping[str, Any]) -> list[str]:
    """External addresses to ask the CRM's leads about: those no contact matched."""
    return [p.address for p in decision.external if p.address not in matched]


def contacts_to_create(
    decision: Decision,
    policy: EmailPolicy,
    matched: Mapping[str, Any],
    leads: Collection[str] = (),
) -> list[Participant]:
    """Participants to create contacts for: eligible under the org's policy, not matched,
    and not a lead (a lead is the CRM's own record of that person: a contact beside it would
    be a duplicate; the provider converts the lead when it is time)."""
    return [
        p
        for p in creation_candidates(decision, policy)
        if p.address not in matched and p.address not in leads
    ]


def outcome(
    matched: Mapping[str, Any], create: Sequence[Any], leads: Collection[str] = ()
) -> Literal["log", "unmatched"]:
    """Review mode's forecast for a message to log: logged against its contacts (matched or
    to create) or its people's leads, else parked in the sync cache. (The writer, with the
    database at hand, also falls back to the thread's relations and logs internal mail
    without contacts.)"""
    return "log" if matched or create or leads else "unmatched"
