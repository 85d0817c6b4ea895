"""What is due, to whom, written once: the expiry pass and the events pass.

Both write in the caller's one transaction: the ledger rows, one message per (channel,
recipient, event) -- the digest -- and one send job per message. A pass holds a lock for
its transaction (PostgreSQL: a transaction-level advisory lock; SQLite: the write lock
every write transaction takes), reads the ledger inside it, and inserts ledger rows with
``ON CONFLICT DO NOTHING``: two passes at once, or the same pass twice, write each notice
once. The statement count grows with what is due (rules, due certificates in chunks of
:data:`CHUNK`, messages), never with the inventory: the due certificates are an index range
on ``certificates.not_after``.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, exists, func, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lemur.accounts.models import Role, Team, TeamMember, User
from lemur.audit.models import AuditEvent, AuditHead
from lemur.certificates.models import Certificate, CertificateName
from lemur.jobs.models import JOBS, JobState
from lemur.jobs.outbox import enqueue
from lemur.notifications.events import (
    ACTIONS,
    ADDRESSED_PLUGINS,
    CHANNEL_RECIPIENT,
    Event,
)
from lemur.notifications.models import (
    CHANNELS,
    CURSOR,
    LEDGER,
    MESSAGES,
    MUTES,
    RULES,
    MessageState,
)
from lemur.notifications.render import Item, render

CHUNK = 1000
EVENTS_BATCH = 1000
SEND_KIND = "notifications.send"
SEND_MAX_ATTEMPTS = 10
# Keys of the transaction-level advisory locks (PostgreSQL) that serialise passes.
EXPIRY_LOCK = 0x4C454D5552_01
EVENTS_LOCK = 0x4C454D5552_02
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class ActiveRule:
    id: int
    channel_id: int
    channel_name: str
    plugin: str
    events: frozenset[str]
    thresholds: tuple[int, ...]
    owners: bool
    security_team: bool
    addresses: tuple[str, ...]
    team_id: int | None

    @property
    def addressed(self) -> bool:
        return self.plugin in ADDRESSED_PLUGINS


@dataclass
class Digest:
    """One message to write: its items and the ledger rows it carries."""

    channel_id: int
    channel_name: str
    recipient: str
    event: Event
    items: dict[str, Item] = field(default_factory=dict)
    # (subject, threshold, sent)
    ledger: set[tuple[str, int, bool]] = field(default_factory=set)


@dataclass(frozen=True)
class PassResult:
    messages: int
    notices: int


def lock(session: Session, key: int) -> None:
    """Serialise passes of one kind for the rest of this transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def chunks(values: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def days_left(not_after: dt.datetime, now: dt.datetime) -> int:
    """Days left, rounded up as people count them: 13 days and 23 hours is 14 days, which
    crosses the 14-day threshold; 14 days and an hour is 15, which does not."""
    left = not_after - now
    whole = left // DAY
    return int(whole) + (1 if left - whole * DAY else 0)


def active_rules(session: Session, events: Iterable[str]) -> list[ActiveRule]:
    """Enabled rules on enabled channels that name any of ``events`` (one statement)."""
    wanted = set(events)
    rows = session.execute(
        select(
            RULES.c.id,
            RULES.c.channel_id,
            CHANNELS.c.name,
            CHANNELS.c.plugin,
            RULES.c.events,
            RULES.c.thresholds,
            RULES.c.owners,
            RULES.c.security_team,
            RULES.c.addresses,
            RULES.c.team_id,
        )
        .join(CHANNELS, CHANNELS.c.id == RULES.c.channel_id)
        .where(RULES.c.enabled.is_(True), CHANNELS.c.enabled.is_(True))
        .order_by(RULES.c.id)
    ).all()
    out = []
    for r in rows:
        named = frozenset(json.loads(r.events))
        if not named & wanted:
            continue
        out.append(
            ActiveRule(
                id=r.id,
                channel_id=r.channel_id,
                channel_name=r.name,
                plugin=r.plugin,
                events=named,
                thresholds=tuple(sorted(json.loads(r.thresholds))),
                owners=r.owners,
                security_team=r.security_team,
                addresses=tuple(json.loads(r.addresses)),
                team_id=r.team_id,
            )
        )
    return out


class Recipients:
    """Who a rule reaches, read once per pass: team members and security users with an
    email address, active."""

    def __init__(self, session: Session, rules: Sequence[ActiveRule], team_ids: set[int]) -> None:
        self.owners: dict[int, list[str]] = defaultdict(list)
        self.security: list[str] = []
        addressed = [r for r in rules if r.addressed]
        has_email = and_(User.email.is_not(None), User.email != "", User.disabled_at.is_(None))
        if team_ids and any(r.owners for r in addressed):
            for team_id, email in session.execute(
                select(TeamMember.team_id, User.email)
                .join(User, User.id == TeamMember.user_id)
                .where(TeamMember.team_id.in_(sorted(team_ids)), has_email)
                .order_by(User.email)
            ):
                self.owners[team_id].append(str(email).strip().lower())
        if any(r.security_team for r in addressed):
            self.security = [
                str(e).strip().lower()
                for e in session.scalars(
                    select(User.email).where(User.role == Role.SECURITY, has_email)
                )
            ]

    def of(self, rule: ActiveRule, team_id: int | None) -> list[str]:
        if not rule.addressed:
            return [CHANNEL_RECIPIENT]
        found: set[str] = {a.lower() for a in rule.addresses}
        if rule.owners and team_id is not None:
            found.update(self.owners.get(team_id, ()))
        if rule.security_team:
            found.update(self.security)
        return sorted(found)


def _message_host(base_url: str) -> str:
    return urlsplit(base_url).hostname or "lemur.invalid"


def _insert_ignoring_conflicts(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    make = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(make(table).on_conflict_do_nothing(), rows)


def write_digests(
    session: Session, digests: Iterable[Digest], *, now: dt.datetime, base_url: str
) -> PassResult:
    """Write each digest's message, its ledger rows and its send job (this transaction)."""
    todo = [d for d in digests if d.items]
    if not todo:
        return PassResult(0, 0)
    host = _message_host(base_url)
    rows: list[dict[str, Any]] = []
    tokens = []
    for d in todo:
        items = sorted(
            d.items.values(),
            key=lambda i: (i.days_left if i.days_left is not None else 0, i.title, i.subject),
        )
        rendered = render(d.event, items, base_url=base_url)
        token = secrets.token_hex(10)
        tokens.append(token)
        rows.append(
            {
                "channel_id": d.channel_id,
                "channel_name": d.channel_name,
                "recipient": d.recipient,
                "event": d.event.value,
                "message_id": f"<lemur.{token}@{host}>",
                "subject": rendered.subject,
                "body_text": rendered.text,
                "body_html": rendered.html,
                "link": rendered.link,
                "certificate_ids": json.dumps(
                    [i.certificate_id for i in items if i.certificate_id is not None]
                ),
                "state": MessageState.PENDING.value,
                "attempts": 0,
                "created_at": now,
            }
        )
    ids: dict[str, int] = {}
    for batch in chunks(rows):
        for row_id, message_id in session.execute(
            insert(MESSAGES).returning(MESSAGES.c.id, MESSAGES.c.message_id), list(batch)
        ):
            ids[message_id] = row_id
    ledger_rows = []
    notices = 0
    for d, row in zip(todo, rows, strict=True):
        message = ids[row["message_id"]]
        for subject, threshold, sent in sorted(d.ledger):
            notices += sent
            ledger_rows.append(
                {
                    "subject": subject,
                    "event": d.event.value,
                    "threshold": threshold,
                    "channel_id": d.channel_id,
                    "recipient": d.recipient,
                    "message_id": message,
                    "sent": sent,
                    "created_at": now,
                }
            )
    for batch in chunks(ledger_rows):
        _insert_ignoring_conflicts(session, LEDGER, list(batch))
    # The first send job through enqueue() (which also wakes this process's runner when the
    # transaction commits), the others in batches: a statement per thousand messages.
    first, *others = [ids[row["message_id"]] for row in rows]
    enqueue(
        session,
        SEND_KIND,
        {"message_id": first},
        now=now,
        key=f"notify:message:{first}",
        max_attempts=SEND_MAX_ATTEMPTS,
    )
    jobs = [
        {
            "kind": SEND_KIND,
            "args": json.dumps({"message_id": message}, separators=(",", ":")),
            "unique_key": f"notify:message:{message}",
            "state": JobState.PENDING.value,
            "attempts": 0,
            "max_attempts": SEND_MAX_ATTEMPTS,
            "run_after": now,
            "created_at": now,
        }
        for message in others
    ]
    for batch in chunks(jobs):
        _insert_ignoring_conflicts(session, JOBS, list(batch))
    return PassResult(len(rows), notices)


# -- the expiry pass ----------------------------------------------------------------------


@dataclass(frozen=True)
class DueCertificate:
    id: int
    common_name: str | None
    not_after: dt.datetime
    team_id: int | None
    team_name: str | None


def _names(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = defaultdict(list)
    for batch in chunks(ids):
        for cert_id, name in session.execute(
            select(CertificateName.certificate_id, CertificateName.name)
            .where(CertificateName.certificate_id.in_(batch))
            .order_by(CertificateName.certificate_id, CertificateName.id)
        ):
            if name not in names[cert_id]:
                names[cert_id].append(name)
    return names


def certificate_link(base_url: str, certificate_id: int) -> str:
    return f"{base_url}/certificates/{certificate_id}"


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
    """Notice every certificate (not revoked, not replaced, not muted, not yet expired) that
    crossed an ``expiring`` threshold of an enabled rule and is not yet in the ledger for
    that threshold, channel and recipient. A certificate that crossed several thresholds
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
            names = _names(session, [d.id for d in due])
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


# -- the events pass ----------------------------------------------------------------------


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
    _insert_ignoring_conflicts(session, CURSOR, [{"id": 1, "seq": head, "updated_at": now}])
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
        names = _names(session, cert_ids)
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


def pending_count(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(MESSAGES)
            .where(MESSAGES.c.state == MessageState.PENDING.value)
        )
        or 0
    )
