"""Domain metrics, read from the database at scrape time.

Every API server and worker process shares one database, so counts of certificates, jobs and
notifications are computed from it when Prometheus scrapes, not kept in process memory: any
process answers the same numbers. Each scrape costs a constant number of SQL statements
(GROUP BY queries, never one per row), on one read session.

Metric sources (the extension hook)
-----------------------------------
A *metric source* is a function ``(session, now) -> Iterable[Metric]``: it runs its own
GROUP BY queries on the read ``session`` and yields prometheus-client metric families
(``GaugeMetricFamily``, ``CounterMetricFamily``, ...). Built in: :func:`certificate_metrics`
and :func:`job_metrics`. Another module adds its own without editing this one::

    from lemur.metrics.collector import register_source

    def notification_metrics(session: Session, now: dt.datetime) -> Iterator[Metric]:
        sent = CounterMetricFamily("lemur_notifications_sent", "...", labels=["channel"])
        for channel, count in session.execute(select(...).group_by(...)):
            sent.add_metric([channel], count)
        yield sent

    register_source(notification_metrics)  # at import time of that module

The module must be imported by the application (its API router is, from ``lemur.app``)
before the first scrape. A source must issue a constant number of statements; the query
count test (tests/api/test_metrics.py) holds for every registered source.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import cast

from prometheus_client.core import GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import Session

from lemur.authorities.models import Authority
from lemur.certificates.models import Certificate
from lemur.clock import Clock
from lemur.db import Database
from lemur.jobs.models import JOBS, JobState
from lemur.notifications.metrics import notification_metric_source

MetricSource = Callable[[Session, dt.datetime], Iterable[Metric]]

_REGISTERED: list[MetricSource] = []


def register_source(source: MetricSource) -> MetricSource:
    """Add ``source`` to every collector made from now on (usable as a decorator)."""
    if source not in _REGISTERED:
        _REGISTERED.append(source)
    return source


# -- certificates ---------------------------------------------------------------------------

# The status a certificate shows in lists and details (lemur.certificates.schemas.status_of),
# in the same order of precedence: the statuses are exclusive and add up to the inventory.
CERTIFICATE_STATUSES = ("valid", "expiring", "expired", "revoked", "not_yet_valid")
EXPIRY_HORIZONS_DAYS = (7, 30, 90)


def _status_counts(now: dt.datetime) -> dict[str, ColumnElement[int]]:
    """Counts per status but "valid" (the rest), as conditional sums in one pass: no
    GROUP BY on an expression (which would sort every row)."""
    c = Certificate
    live = and_(c.revoked_at.is_(None), c.not_after > now)
    conditions = {
        "revoked": c.revoked_at.is_not(None),
        "expired": and_(c.revoked_at.is_(None), c.not_after <= now),
        "not_yet_valid": and_(live, c.not_before > now),
        "expiring": and_(live, c.not_before <= now, c.renew_after <= now),
    }
    return {
        name: func.coalesce(func.sum(case((cond, 1), else_=0)), 0)
        for name, cond in conditions.items()
    }


def certificate_metrics(session: Session, now: dt.datetime) -> Iterator[Metric]:
    """Three statements: by status, by authority, and expiring within 7/30/90 days."""
    by_status = GaugeMetricFamily(
        "lemur_certificates",
        "Certificates by status as shown in the inventory (valid, expiring = inside the "
        "renewal window, expired, revoked, not_yet_valid); the statuses add up to all stored "
        "certificates.",
        labels=["status"],
    )
    sums = _status_counts(now)
    row = session.execute(select(func.count(), *sums.values()).select_from(Certificate)).one()
    total, *counted = (int(n) for n in row)
    counts = dict(zip(sums, counted, strict=True))
    counts["valid"] = total - sum(counted)
    for name in CERTIFICATE_STATUSES:
        by_status.add_metric([name], counts[name])
    yield by_status

    by_authority = GaugeMetricFamily(
        "lemur_certificates_by_authority",
        'Stored certificates (any status) by issuing authority; authority="" for '
        "certificates of no authority managed by Lemur (imported).",
        labels=["authority"],
    )
    # Grouped on the (authority_id, not_after) index; names joined to the few groups.
    grouped = (
        select(Certificate.authority_id.label("authority_id"), func.count().label("n"))
        .group_by(Certificate.authority_id)
        .subquery()
    )
    rows = session.execute(
        select(Authority.name, grouped.c.n).outerjoin(
            Authority, Authority.id == grouped.c.authority_id
        )
    )
    per_authority: dict[str, int] = {}
    for name, count in rows:
        per_authority[name or ""] = per_authority.get(name or "", 0) + count
    for name, count in sorted(per_authority.items()):
        by_authority.add_metric([name], count)
    yield by_authority

    expiring = GaugeMetricFamily(
        "lemur_certificates_expiring",
        "Certificates not revoked and not yet expired whose notAfter is within the given "
        "number of days.",
        labels=["within_days"],
    )
    horizons = {days: now + dt.timedelta(days=days) for days in EXPIRY_HORIZONS_DAYS}
    within = [
        func.coalesce(func.sum(case((Certificate.not_after <= at, 1), else_=0)), 0)
        for at in horizons.values()
    ]
    found = session.execute(
        select(*within).where(
            Certificate.not_after > now,
            Certificate.not_after <= horizons[max(EXPIRY_HORIZONS_DAYS)],
            Certificate.revoked_at.is_(None),
        )
    ).one()
    for days, count in zip(EXPIRY_HORIZONS_DAYS, found, strict=True):
        expiring.add_metric([str(days)], int(count))
    yield expiring


# -- jobs -------------------------------------------------------------------------------------

JOB_STATES = tuple(JobState)
FINISHED_STATES = (JobState.SUCCEEDED, JobState.FAILED)


def _run_seconds(dialect: str) -> ColumnElement[float]:
    """finished_at - started_at in seconds, NULL unless both are set. SQLite stores the
    datetimes as text (UTC): julianday() reads them; PostgreSQL subtracts timestamps."""
    start, end = JOBS.c.started_at, JOBS.c.finished_at
    if dialect == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return cast(ColumnElement[float], func.extract("epoch", end - start))


def job_metrics(session: Session, now: dt.datetime) -> Iterator[Metric]:
    """Two statements: counts and run time by kind and state, and the oldest due job."""
    dialect = session.get_bind().dialect.name
    seconds = _run_seconds(dialect)
    finished = JOBS.c.state.in_(FINISHED_STATES)
    rows = session.execute(
        select(
            JOBS.c.kind,
            JOBS.c.state,
            func.count(),
            func.sum(case((finished, seconds))),
            func.count(case((finished, seconds))),
        ).group_by(JOBS.c.kind, JOBS.c.state)
    ).all()
    by_state = GaugeMetricFamily(
        "lemur_jobs",
        "Jobs by state (pending, running, succeeded, failed, cancelled) and kind.",
        labels=["state", "kind"],
    )
    run_time = SummaryMetricFamily(
        "lemur_job_run_seconds",
        "Run time of finished jobs (succeeded or failed: finished_at - started_at) by kind, "
        "over every job still stored.",
        labels=["kind"],
    )
    counts: dict[tuple[str, str], int] = {}
    durations: dict[str, tuple[int, float]] = {}
    for kind, state, count, total, timed in rows:
        counts[(state, kind)] = count
        n, s = durations.get(kind, (0, 0.0))
        durations[kind] = (n + int(timed or 0), s + float(total or 0.0))
    kinds = sorted({kind for _, kind in counts})
    for kind in kinds:
        for state in JOB_STATES:
            by_state.add_metric([state, kind], counts.get((state, kind), 0))
        n, s = durations[kind]
        run_time.add_metric([kind], count_value=n, sum_value=s)
    for (state, kind), count in sorted(counts.items()):
        if state not in JOB_STATES:  # a state added later still shows
            by_state.add_metric([state, kind], count)
    yield by_state
    yield run_time

    oldest = session.scalar(
        select(func.min(JOBS.c.run_after)).where(
            JOBS.c.state == JobState.PENDING, JOBS.c.run_after <= now
        )
    )
    lag = GaugeMetricFamily(
        "lemur_jobs_oldest_pending_age_seconds",
        "How long the oldest pending job that is due has waited (since its run_after): the "
        "queue lag; 0 when no job is waiting.",
    )
    lag.add_metric([], max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0)
    yield lag


BUILTIN_SOURCES: tuple[MetricSource, ...] = (
    certificate_metrics,
    job_metrics,
    notification_metric_source,
)


class DatabaseCollector(Collector):
    """A prometheus-client collector that runs every metric source on one read session.

    ``sources`` defaults to the built-in ones plus every :func:`register_source` one."""

    def __init__(
        self, db: Database, clock: Clock, sources: Sequence[MetricSource] | None = None
    ) -> None:
        self._db = db
        self._clock = clock
        self._sources = sources

    @property
    def sources(self) -> Sequence[MetricSource]:
        if self._sources is not None:
            return self._sources
        return (*BUILTIN_SOURCES, *(s for s in _REGISTERED if s not in BUILTIN_SOURCES))

    def collect(self) -> Iterator[Metric]:
        now = self._clock.now()
        with self._db.read() as session:
            metrics = [m for source in self.sources for m in source(session, now)]
        yield from metrics

    def describe(self) -> Iterable[Metric]:
        # No database work when the collector is registered.
        return []
