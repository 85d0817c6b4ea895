"""What is due, to whom, written once: what the expiry pass (lemur.notifications.expiry)
and the events pass (lemur.notifications.event_pass) share.

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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lemur.accounts.models import Role, TeamMember, User
from lemur.certificates.models import CertificateName
from lemur.jobs.models import JOBS, JobState
from lemur.jobs.outbox import enqueue
from lemur.notifications.events import (
    ADDRESSED_PLUGINS,
    CHANNEL_RECIPIENT,
    Event,
)
from lemur.notifications.models import (
    CHANNELS,
    LEDGER,
    MESSAGES,
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


def insert_ignoring_conflicts(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
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
        insert_ignoring_conflicts(session, LEDGER, list(batch))
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
        insert_ignoring_conflicts(session, JOBS, list(batch))
    return PassResult(len(rows), notices)


def certificate_names(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
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
