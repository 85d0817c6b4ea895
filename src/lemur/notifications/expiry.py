"""The expiry pass: certificates crossing a threshold of a rule's, written once as ledger
rows, digests and send jobs (lemur.notifications.planner)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from lemur.accounts.models import Team
from lemur.certificates.models import Certificate
from lemur.notifications.events import (
    Event,
)
from lemur.notifications.models import (
    LEDGER,
    MUTES,
)
from lemur.notifications.planner import (
    DAY,
    EXPIRY_LOCK,
    Digest,
    PassResult,
    Recipients,
    active_rules,
    certificate_link,
    certificate_names,
    chunks,
    days_left,
    lock,
    write_digests,
)
from lemur.notifications.render import Item


@dataclass(frozen=True)
class DueCertificate:
    id: int
    common_name: str | None
    not_after: dt.datetime
    team_id: int | None
    team_name: str | None


def _ledger_keys(
    session: Session, event: Event, subjects: Sequence[str]
) -> set[tuple[str, int, int, str]]:
    """(subject, threshold, channel_id, recipient) already in the ledger for ``subjects``."""
    found: set[tuple[str, int, int, str]] = set()
    for batch in chunks(subjects):
        found.update(
            (r.subject, r.threshold, r.channel_id, r.recipient)
            for r in session.execute(
                select(
                    LEDGER.c.subject, LEDGER.c.threshold, LEDGER.c.channel_id, LEDGER.c.recipient
                ).where(LEDGER.c.event == event.value, LEDGER.c.subject.in_(batch))
            )
        )
    return found


def _not_muted(cert_id: Any) -> Any:
    return ~exists().where(MUTES.c.certificate_id == cert_id)


def expiry_pass(session: Session, *, now: dt.datetime, base_url: str) -> PassResult:
    """Notice every certificate (not revoked, not replaced, not archived, not muted, not yet
    expired) that crossed an ``expiring`` threshold of an enabled rule and is not yet in the
    ledger for that threshold, channel and recipient. A certificate that crossed several thresholds
    since its last notice gets one, for the smallest; the larger ones are recorded as
    covered (``sent = false``) so they never go out later."""
    lock(session, EXPIRY_LOCK)
    rules = [r for r in active_rules(session, [Event.EXPIRING]) if Event.EXPIRING in r.events]
    if not rules:
        return PassResult(0, 0)
    horizon = max(max(r.thresholds) for r in rules)
    c = Certificate.__table__.c
    due = [
        DueCertificate(r.id, r.common_name, r.not_after, r.team_id, r.name)
        for r in session.execute(
            select(c.id, c.common_name, c.not_after, c.team_id, Team.name)
            .outerjoin(Team, Team.id == c.team_id)
            .where(
                c.not_after > now,
                c.not_after <= now + horizon * DAY,
                c.revoked_at.is_(None),
                # Not "replaced_by_id IS NULL": SQLite (no ANALYZE) would take it for a
                # selective lookup on ix_certificates_replaced_by_id and walk every current
                # certificate; as an expression, the not_after range drives the plan.
                func.coalesce(c.replaced_by_id, 0) == 0,
                c.archived_at.is_(None),
                _not_muted(c.id),
            )
            .order_by(c.not_after, c.id)
        )
    ]
    if not due:
        return PassResult(0, 0)
    subjects = [f"certificate:{d.id}" for d in due]
    done = _ledger_keys(session, Event.EXPIRING, subjects)
    recipients = Recipients(session, rules, {d.team_id for d in due if d.team_id is not None})
    # (channel, recipient, subject) -> smallest crossed threshold and every crossed one
    wanted: dict[tuple[int, str, str], set[int]] = defaultdict(set)
    channels: dict[int, str] = {}
    by_subject: dict[str, DueCertificate] = {}
    for cert, subject in zip(due, subjects, strict=True):
        left = days_left(cert.not_after, now)
        by_subject[subject] = cert
        for rule in rules:
            if rule.team_id is not None and rule.team_id != cert.team_id:
                continue
            crossed = {t for t in rule.thresholds if left <= t}
            if not crossed:
                continue
            channels[rule.channel_id] = rule.channel_name
            for recipient in recipients.of(rule, cert.team_id):
                wanted[(rule.channel_id, recipient, subject)].update(crossed)
    digests: dict[tuple[int, str], Digest] = {}
    names = None
    for (channel_id, recipient, subject), crossed in wanted.items():
        smallest = min(crossed)
        if (subject, smallest, channel_id, recipient) in done:
            # Already told at this threshold (or a smaller one covered it); record any
            # threshold added to the rule since, as covered.
            continue
        cert = by_subject[subject]
        digest = digests.get((channel_id, recipient))
        if digest is None:
            digest = digests[(channel_id, recipient)] = Digest(
                channel_id, channels[channel_id], recipient, Event.EXPIRING
            )
        if names is None:
            names = certificate_names(session, [d.id for d in due])
        cert_names = tuple(names.get(cert.id, ()))
        digest.items[subject] = Item(
            subject=subject,
            title=cert.common_name or (cert_names[0] if cert_names else f"certificate {cert.id}"),
            certificate_id=cert.id,
            names=cert_names,
            team=cert.team_name,
            not_after=cert.not_after,
            days_left=days_left(cert.not_after, now),
            link=certificate_link(base_url, cert.id),
        )
        digest.ledger.add((subject, smallest, True))
        for covered in crossed - {smallest}:
            if (subject, covered, channel_id, recipient) not in done:
                digest.ledger.add((subject, covered, False))
    return write_digests(session, digests.values(), now=now, base_url=base_url)
