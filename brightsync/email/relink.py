"""CRM links of emails already logged: the contacts that appear later (a new contact, a
converted lead, a participant only the sender's copy showed) are attached, threads that
merged are moved, and an email an earlier attempt may have created is found by its
rfc822MsgId."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from brightsync.clients.http import FinalError, TransientError
from brightsync.crm.matching import lead_name
from brightsync.crm.relations import without_leads
from brightsync.db import session_scope
from brightsync.email.context import EmailContext
from brightsync.models import EmailClaim, EmailParticipant

log = logging.getLogger(__name__)


def crm_msg_id(message_key: str) -> str:
    """The rfc822MsgId a claim's email carries in the CRM (what look-ups ask for)."""
    if message_key.startswith("digest:"):
        return f"<{message_key.removeprefix('digest:')}@brightsync.invalid>"
    return f"<{message_key}>"


def logged_email(ctx: EmailContext, rfc822_msg_id: str) -> dict[str, Any] | None:
    """The email an earlier attempt may have logged (None when the CRM cannot be asked)."""
    if not ctx.matcher.caps.email_lookup:
        return None
    found = ctx.crm.find_emails(rfc822_msg_id)
    return found[0] if found else None


def record_participants(
    s: Any,
    org_id: int,
    claim_id: int,
    addresses: list[str],
    matched: set[str],
    leads: Mapping[str, dict[str, Any]] | None = None,
) -> None:
    """Each external address: matched to a contact or not, and the lead the email was logged
    against for it (kept until the address has a contact; `leads` None leaves it as it is)."""
    existing = {
        p.address: p
        for p in s.scalars(select(EmailParticipant).where(EmailParticipant.claim_id == claim_id))
    }
    for addr in dict.fromkeys(addresses[:200]):
        row = existing.get(addr)
        if row is None:
            row = EmailParticipant(org_id=org_id, claim_id=claim_id, address=addr)
            s.add(row)
        row.matched = addr in matched
        lead = (leads or {}).get(addr)
        if row.matched or lead is not None or leads is not None:
            row.lead_id = str(lead["id"])[:255] if lead and lead.get("id") is not None else None
            row.lead_name = lead_name(lead) if lead else None


def update_threads(ctx: EmailContext, crm_ids: list[str], thread_id: str) -> None:
    if not ctx.matcher.caps.email_update:
        return
    for crm_id in crm_ids:
        try:
            ctx.crm.update_email(crm_id, {"syncThreadId": thread_id})
        except FinalError as exc:
            log.warning("could not move email %s to merged thread: %s", crm_id, exc.message)


def relink(ctx: EmailContext, addresses: set[str]) -> int:
    """Emails already logged with a participant who now has a contact get it in relatedTo."""
    if not ctx.matcher.caps.email_update or not addresses:
        return 0
    with session_scope() as s:
        rows = s.execute(
            select(EmailClaim.id, EmailClaim.crm_email_id, EmailClaim.related_to)
            .join(EmailParticipant, EmailParticipant.claim_id == EmailClaim.id)
            .where(
                EmailParticipant.org_id == ctx.org_id,
                EmailParticipant.address.in_(sorted(addresses)),
                EmailParticipant.matched.is_(False),
                EmailClaim.state == "logged",
            )
        ).all()
    updated = 0
    for claim_id, crm_id, related in {r.id: r for r in rows}.values():
        with session_scope() as s:
            lead_of = dict(
                s.execute(
                    select(EmailParticipant.address, EmailParticipant.lead_id).where(
                        EmailParticipant.claim_id == claim_id
                    )
                ).all()
            )
        addrs = list(lead_of)
        ctx.crm.forget(addrs)
        matched = ctx.matcher.match(addrs)
        fresh = ctx.matcher.relations(unique_contacts(list(matched.values())))
        merged = {
            k: list(dict.fromkeys((related or {}).get(k, []) + fresh.get(k, [])))
            for k in ("contacts", "companies", "opportunities")
        }
        # A lead whose person is a contact now (converted) gives way to that contact.
        converted = [lead for a, lead in lead_of.items() if lead and a in matched]
        merged = without_leads({**merged, "leads": (related or {}).get("leads", [])}, converted)
        try:
            ctx.crm.update_email(crm_id, {"relatedTo": merged})
        except FinalError as exc:
            log.warning("re-link of email %s refused: %s", crm_id, exc.message)
            continue
        with session_scope() as s:
            c = s.get(EmailClaim, claim_id)
            c.related_to = merged
            record_participants(s, ctx.org_id, claim_id, addrs, set(matched))
        updated += 1
    ctx.count("relinked", updated)
    return updated


def late_participants(ctx: EmailContext, revealed: dict[int, frozenset[str]]) -> int:
    """Logged emails whose later copy showed more people (the sender's Bcc): link them too.

    An excluded address seen only now cannot be unlogged; the claim says so instead.
    """
    addresses: set[str] = set()
    with session_scope() as s:
        for claim_id, found in revealed.items():
            c = s.get(EmailClaim, claim_id)
            if c is None or c.state != "logged":
                continue
            external = sorted(a for a in found if not ctx.policy.is_internal(a))
            if any(ctx.policy.is_excluded(a) for a in external):
                c.reason = "logged before the sender's copy showed an excluded address"
                log.warning("claim %s: an excluded address was revealed after logging", c.id)
                continue
            c.addresses = list(dict.fromkeys([*(c.addresses or []), *external]))[:200]
            record_participants(s, ctx.org_id, c.id, external, set())
            addresses.update(external)
    if not addresses:
        return 0
    try:
        return relink(ctx, addresses)
    except (TransientError, FinalError) as exc:
        log.warning("linking late participants failed: %s", exc)
        return 0


def unique_contacts(contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for c in contacts:
        seen.setdefault(str(c.get("id")), c)
    return list(seen.values())
