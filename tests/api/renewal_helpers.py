"""Helpers for the automatic renewal tests: run passes and jobs, read what they left."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import func, select

from lemur.audit.models import AuditEvent
from lemur.certificates.models import Certificate
from lemur.container import Container
from lemur.jobs.engine import JobEngine
from lemur.jobs.models import Job
from lemur.jobs.outbox import enqueue


def start_pass(container: Container, tick: str | None = None) -> None:
    """Queue a renewal pass as the scheduler would (one per tick)."""
    now = container.clock.now()
    tick = tick or now.isoformat()
    with container.db.write() as session:
        enqueue(session, "renewal.pass", {"tick": tick}, now=now, key=f"schedule:renewal:{tick}")
        session.commit()


def drain(engine: JobEngine, rounds: int = 5) -> None:
    """Run due jobs until none is left (a pass queues renewals; they run next round)."""
    for _ in range(rounds):
        if engine.run_due() == 0:
            return


def run_pass(container: Container) -> None:
    start_pass(container)
    drain(JobEngine(container, container.job_kinds))


def successors(container: Container, certificate_id: int) -> list[int]:
    with container.db.read() as session:
        return list(
            session.scalars(select(Certificate.id).where(Certificate.replaces_id == certificate_id))
        )


def events(container: Container, action: str, target_id: int | None = None) -> list[AuditEvent]:
    with container.db.read() as session:
        stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
        if target_id is not None:
            stmt = stmt.where(AuditEvent.target_id == str(target_id))
        found = list(session.scalars(stmt))
        for e in found:
            session.expunge(e)
        return found


def details(event: AuditEvent) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(event.details)
    return loaded


def jobs(container: Container, kind: str) -> list[Job]:
    with container.db.read() as session:
        found = list(session.scalars(select(Job).where(Job.kind == kind).order_by(Job.id)))
        for j in found:
            session.expunge(j)
        return found


def certificate_count(container: Container) -> int:
    with container.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Certificate)) or 0)


DAY = dt.timedelta(days=1)
