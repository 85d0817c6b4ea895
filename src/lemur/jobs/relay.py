"""The relay (outbox publisher) and the loop of ``lemur scheduler``.

The relay reads due jobs from the ``jobs`` table, sends them to the broker in batches ("run
jobs N, M, ..."), then marks them ``dispatched_at``. A job is sent again when it became due
again since it was sent (a retry: the engine clears ``dispatched_at``), or when it is still pending long after
it was sent (the message was lost: Redis restarted without persistence, a worker's
prefetched messages went with it). A duplicate message is harmless: a worker claims a job
with a conditional UPDATE, and only one claim succeeds.

On PostgreSQL candidates are picked ``FOR UPDATE SKIP LOCKED`` and marked in the same
transaction, so two relays send different jobs; on SQLite the write lock serialises
them. Jobs the broker did not take (it cannot be reached) are unmarked again: they are
sent in a later round, nothing is lost and the relay keeps running.

:class:`SchedulerLoop` is one process's round: fire due schedule ticks (each tick fires
once, whatever the number of schedulers, through the job's unique key), return jobs of
dead workers to ``pending`` (:meth:`JobEngine.reap`), relay due jobs. No celery beat: the
database, not a single beat process, decides once-per-tick.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from amqp.exceptions import ChannelError
from celery import Celery
from sqlalchemy import or_, select, update

from lemur.jobs.celery_app import TASK, masked_url
from lemur.jobs.embedded import RoundFailures, Ticker
from lemur.jobs.engine import JobEngine
from lemur.jobs.models import JOBS, JobState
from lemur.jobs.registry import JobKinds
from lemur.jobs.schedule import ScheduleEntry

if TYPE_CHECKING:
    from lemur.container import Container

log = logging.getLogger("lemur.jobs")

# A job still pending this long after it was sent, while the broker's queue is empty, is
# sent again (its message was lost).
REDISPATCH_AFTER_S = 300.0
# Jobs per message: a worker claims and records a message's jobs together, so bursts of
# fast jobs cost one claim per message; a slow job delays at most this many in its message
# (the engine hands back those not started within half their lease).
JOBS_PER_MESSAGE = 20
# A burst of at least this many jobs goes out as at least this many messages.
SPREAD = 8


class Relay:
    def __init__(
        self,
        container: Container,
        app: Celery,
        kinds: JobKinds,
        *,
        queue: str | None = None,
        redispatch_after: float = REDISPATCH_AFTER_S,
    ) -> None:
        self.container = container
        self.app = app
        self.kinds = kinds
        self.queue = queue or container.settings.broker_queue
        self.redispatch_after = dt.timedelta(seconds=redispatch_after)
        self.broker_down_since: float | None = None

    def dispatch_due(self, limit: int = 500) -> int:
        """Send up to ``limit`` due jobs not yet sent; returns how many were sent."""
        if self.broker_down_since is not None and not self._reachable():
            return 0  # still down: leave the jobs alone (no marking and unmarking)
        now = self.container.clock.now()
        jobs = JOBS
        not_sent = or_(jobs.c.dispatched_at.is_(None), jobs.c.dispatched_at < jobs.c.run_after)
        if self._queue_empty():
            # Sent long ago, still pending, and nothing waits in the queue: the message was
            # lost (Redis lost its data). While messages wait, a backlog is the reason, and
            # sending again would only pile up duplicates.
            not_sent = or_(not_sent, jobs.c.dispatched_at < now - self.redispatch_after)
        candidates = (
            select(jobs.c.id)
            .where(
                jobs.c.state == JobState.PENDING.value,
                jobs.c.run_after <= now,
                jobs.c.kind.in_(list(self.kinds)),
                not_sent,
            )
            .order_by(jobs.c.run_after, jobs.c.id)
            .limit(limit)
        )
        # Mark first and commit, then send: the rows are not held locked while messages go
        # out (a worker claiming one would wait), and a second relay, skipping locked rows
        # and then seeing them marked, sends other jobs. Rows the broker did not take are
        # unmarked again; if this process dies in between, they are sent again after
        # ``redispatch_after``.
        with self.container.db.write() as session:
            if session.get_bind().dialect.name == "postgresql":
                candidates = candidates.with_for_update(skip_locked=True)
            ids = list(session.scalars(candidates))
            if not ids:
                session.rollback()
                return 0
            session.execute(update(jobs).where(jobs.c.id.in_(ids)).values(dispatched_at=now))
            session.commit()
        sent = self._send(ids)
        taken = set(sent)
        unsent = [i for i in ids if i not in taken]
        if unsent:
            with self.container.db.write() as session:
                session.execute(
                    update(jobs)
                    .where(jobs.c.id.in_(unsent), jobs.c.dispatched_at == now)
                    .values(dispatched_at=None)
                )
                session.commit()
        return len(sent)

    def _queue_empty(self) -> bool:
        try:
            with self.app.connection_for_write() as connection:
                declared = connection.default_channel.queue_declare(queue=self.queue, passive=True)
        except ChannelError as exc:
            # No such queue: nothing waits in it (a broker that lost its data lost it too).
            return str(getattr(exc, "reply_code", "")) == "404"
        except Exception:
            return False  # no broker: nothing can be sent anyway
        return int(declared.message_count) == 0

    def _reachable(self) -> bool:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1)
        except Exception:
            return False
        return True

    def _send(self, ids: Sequence[int]) -> list[int]:
        """Send the messages; the ids the broker took (all, or none if it failed: in a
        batch the messages go out together, in one pipeline round trip on Redis)."""
        try:
            with self.app.producer_or_acquire() as producer:
                # kombu >= 5.7 buffers the messages of a batch; older ones send each at once.
                batch = getattr(producer, "batch", None)
                chunks = batches(ids)
                with batch(max_size=len(chunks)) if batch else contextlib.nullcontext():
                    for chunk in chunks:
                        self.app.send_task(
                            TASK, args=[chunk], producer=producer, queue=self.queue, retry=False
                        )
        except Exception as exc:  # kombu, redis and socket errors alike
            if self.broker_down_since is None:
                self.broker_down_since = time.monotonic()
                log.error(
                    "relay: cannot reach the broker %s (%s: %s); %d due job(s) stay pending "
                    "and are sent when it is back",
                    masked_url(str(self.app.conf.broker_url)),
                    type(exc).__name__,
                    exc,
                    len(ids),
                )
            return []
        sent = list(ids)
        if self.broker_down_since is not None:
            log.warning(
                "relay: the broker is back after %.0fs", time.monotonic() - self.broker_down_since
            )
            self.broker_down_since = None
        return sent


def batches(ids: Sequence[int]) -> list[list[int]]:
    """The messages for ``ids``: at most JOBS_PER_MESSAGE jobs each, and at least
    SPREAD messages when there are that many jobs, so that a small burst still spreads
    over several worker processes."""
    size = max(1, min(JOBS_PER_MESSAGE, -(-len(ids) // SPREAD)))
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


class SchedulerLoop:
    """One ``lemur scheduler``: ticks, reaping and relaying, until stopped."""

    def __init__(
        self,
        container: Container,
        app: Celery,
        kinds: JobKinds,
        schedule: Sequence[ScheduleEntry],
        *,
        poll_interval: float = 1.0,
        tick_interval: float = 5.0,
        reap_interval: float = 15.0,
        batch: int = 500,
    ) -> None:
        self.relay = Relay(container, app, kinds)
        self.engine = JobEngine(container, kinds)
        self.ticker = Ticker(container, schedule, interval=tick_interval)
        self.poll_interval = poll_interval
        self.reap_interval = reap_interval
        self.batch = batch
        self._last_reap = 0.0
        self.stopping = threading.Event()
        self.failures = RoundFailures("scheduler")

    def step(self) -> int:
        """Fire due ticks, reap if it is time, relay one batch; how many jobs were sent."""
        self.ticker.maybe_fire()
        if time.monotonic() - self._last_reap >= self.reap_interval:
            self._last_reap = time.monotonic()
            self.engine.reap()
        return self.relay.dispatch_due(self.batch)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                sent = self.step()
            except Exception as exc:
                # The database may be down: log, wait, try again; never exit for it.
                self.failures.failed(exc, self.poll_interval)
                sent = 0
            else:
                self.failures.succeeded()
            if sent < self.batch:
                self.stopping.wait(self.poll_interval)

    def stop(self) -> None:
        self.stopping.set()
