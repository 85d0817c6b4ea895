"""The events pass: the audit log read from its cursor, each event a rule asks for written
once as ledger rows, digests and send jobs (lemur.notifications.planner)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lemur.accounts.models import Team
from lemur.audit.models import AuditEvent, AuditHead
from lemur.certificates.models import Certificate
from lemur.notifications.events import (
    ACTIONS,
    Event,
)
from lemur.notifications.models import (
    CURSOR,
    LEDGER,
    MUTES,
)
from lemur.notifications.planner import (
    EVENTS_BATCH,
    Digest,
    Recipients,
    active_rules,
    certificate_link,
    certificate_names,
    chunks,
    insert_ignoring_conflicts,
    write_digests,
)
from lemur.notifications.render import Item


def read_cursor(session: Session, *, now: dt.datetime) -> int:
    """The last audit seq turned into notices, locked for this transaction. Without a
    cursor row (a database restored without it) it starts at the chain's head: events
    already in the log are history, not news."""
    seq = session.execute(
        select(CURSOR.c.seq).where(CURSOR.c.id == 1).with_for_update()
    ).scalar_one_or_none()
    if seq is not None:
        return int(seq)
    head = int(session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0)
    insert_ignoring_conflicts(session, CURSOR, [{"id": 1, "seq": head, "updated_at": now}])
    return int(session.execute(select(CURSOR.c.seq).where(CURSOR.c.id == 1)).scalar_one())


@dataclass(frozen=True)
class EventsResult:
    events: int
    messages: int
    cursor: int
    more: bool


def _event_items(
    session: Session, rows: Sequence[Any], base_url: str
) -> list[tuple[Event, Item, int | None, bool]]:
    """(event, item, team id, is about a certificate) for each audit row that notifies."""
    cert_ids = sorted(
        {
            int(r.target_id)
            for r in rows
            if r.target_type == "certificate" and (r.target_id or "").isdigit()
        }
    )
    certs: dict[int, Any] = {}
    muted: set[int] = set()
    names: dict[int, list[str]] = {}
    if cert_ids:
        c = Certificate.__table__.c
        for batch in chunks(cert_ids):
            for r in session.execute(
                select(c.id, c.common_name, c.not_after, c.team_id, Team.name)
                .outerjoin(Team, Team.id == c.team_id)
                .where(c.id.in_(batch))
            ):
                certs[r.id] = r
            muted.update(
                session.scalars(
                    select(MUTES.c.certificate_id).where(MUTES.c.certificate_id.in_(batch))
                )
            )
        names = certificate_names(session, cert_ids)
    out: list[tuple[Event, Item, int | None, bool]] = []
    for r in rows:
        event = ACTIONS[r.action]
        details: Mapping[str, Any] = json.loads(r.details or "{}")
        if event is Event.JOB_FAILED:
            kind = str(details.get("kind") or "")
            # A notification that could not be sent must not notify about itself.
            if kind.startswith("notifications."):
                continue
            error = details.get("error")
            out.append(
                (
                    event,
                    Item(
                        subject=f"job:{r.target_id}",
                        title=f"job {r.target_id} ({kind or 'unknown kind'})",
                        detail=str(error) if error else None,
                    ),
                    None,
                    False,
                )
            )
            continue
        if event is Event.AUDIT_CHAIN_BROKEN:
            problem = details.get("error") or details.get("message") or details.get("problems")
            if isinstance(problem, list):
                problem = "; ".join(str(p) for p in problem)
            out.append(
                (
                    event,
                    Item(
                        subject=f"audit-event:{r.seq}",
                        title="audit chain verification",
                        detail=str(problem) if problem else None,
                    ),
                    None,
                    False,
                )
            )
            continue
        if event is Event.REQUEST_FAILED:
            team_id = details.get("team_id")
            asked = [str(n) for n in details.get("names") or []]
            out.append(
                (
                    event,
                    Item(
                        subject=f"request:{r.target_id}",
                        title=asked[0] if asked else f"request {r.target_id}",
                        names=tuple(asked),
                        detail=str(details.get("error") or "unknown error"),
                        extra={"authority": str(details.get("authority") or "")},
                        link=f"{base_url.rstrip('/')}/requests/{r.target_id}",
                    ),
                    team_id if isinstance(team_id, int) else None,
                    # Team rules and the owners hear of it like of a certificate.
                    isinstance(team_id, int),
                )
            )
            continue
        if not (r.target_id or "").isdigit():
            continue
        cert_id = int(r.target_id)
        cert = certs.get(cert_id)
        if cert is None or cert_id in muted:
            continue
        cert_names = tuple(names.get(cert_id, ()))
        detail = None
        extra: dict[str, str] = {}
        if event is Event.REVOKED:
            detail = f"reason: {details.get('reason', 'unspecified')}"
        elif event is Event.RENEWAL_FAILED:
            detail = str(details.get("error") or "unknown error")
            if details.get("final"):
                extra["retries"] = "none left: renew it yourself"
        elif event is Event.DEPLOYMENT_FAILED:
            detail = str(details.get("error") or "unknown error")
            extra["destination"] = str(details.get("destination") or "")
            if details.get("rolled_back"):
                extra["rolled back"] = "the previous certificate is served again"
        elif event is Event.RENEWED and details.get("replaces"):
            extra["replaces"] = f"certificate {details['replaces']}"
        out.append(
            (
                event,
                Item(
                    subject=f"certificate:{cert_id}",
                    title=cert.common_name
                    or (cert_names[0] if cert_names else f"certificate {cert_id}"),
                    certificate_id=cert_id,
                    names=cert_names,
                    team=cert.name,
                    not_after=cert.not_after,
                    detail=detail,
                    extra=extra,
                    link=certificate_link(base_url, cert_id),
                ),
                cert.team_id,
                True,
            )
        )
    return out


def events_pass(
    session: Session, *, now: dt.datetime, base_url: str, limit: int = EVENTS_BATCH
) -> EventsResult:
    """Turn the audit events after the cursor into notices and advance the cursor, in this
    transaction. ``more`` says a full batch was read (call again)."""
    start = read_cursor(session, now=now)
    head = int(session.scalar(select(AuditHead.seq).where(AuditHead.id == 1)) or 0)
    e = AuditEvent.__table__.c
    rows = session.execute(
        select(e.seq, e.action, e.target_type, e.target_id, e.details)
        .where(e.seq > start, e.seq <= head, e.action.in_(list(ACTIONS)))
        .order_by(e.seq)
        .limit(limit)
    ).all()
    more = len(rows) == limit
    end = rows[-1].seq if more else max(head, start)
    messages = 0
    if rows:
        rules = active_rules(session, {ACTIONS[r.action].value for r in rows})
        if rules:
            items = _event_items(session, rows, base_url)
            team_ids = {t for _, _, t, _ in items if t is not None}
            recipients = Recipients(session, rules, team_ids)
            digests: dict[tuple[int, str, Event], Digest] = {}
            candidates: list[tuple[Digest, Item]] = []
            for event, item, team_id, about_certificate in items:
                for rule in rules:
                    if event.value not in rule.events:
                        continue
                    if rule.team_id is not None and (
                        not about_certificate or rule.team_id != team_id
                    ):
                        continue
                    for recipient in recipients.of(rule, team_id):
                        key = (rule.channel_id, recipient, event)
                        digest = digests.get(key)
                        if digest is None:
                            digest = digests[key] = Digest(
                                rule.channel_id, rule.channel_name, recipient, event
                            )
                        candidates.append((digest, item))
            done = _ledger_keys_any(session, {i.subject for _, i in candidates})
            for digest, item in candidates:
                key4 = (item.subject, digest.event.value, digest.channel_id, digest.recipient)
                if key4 in done:
                    continue
                digest.items[item.subject] = item
                digest.ledger.add((item.subject, 0, True))
            messages = write_digests(session, digests.values(), now=now, base_url=base_url).messages
    if end != start:
        session.execute(update(CURSOR).where(CURSOR.c.id == 1).values(seq=end, updated_at=now))
    return EventsResult(len(rows), messages, end, more)


def _ledger_keys_any(session: Session, subjects: set[str]) -> set[tuple[str, str, int, str]]:
    found: set[tuple[str, str, int, str]] = set()
    for batch in chunks(sorted(subjects)):
        found.update(
            (r.subject, r.event, r.channel_id, r.recipient)
            for r in session.execute(
                select(
                    LEDGER.c.subject, LEDGER.c.event, LEDGER.c.channel_id, LEDGER.c.recipient
                ).where(LEDGER.c.subject.in_(batch), LEDGER.c.threshold == 0)
            )
        )
    return found
