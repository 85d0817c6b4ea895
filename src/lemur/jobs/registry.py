"""Job kinds: what a job of each kind runs, and how it retries.

A handler is a plain function ``handler(ctx: JobContext) -> None``. The same function runs
under the embedded runner and under Celery: a runner is a thin adapter around
:class:`lemur.jobs.engine.JobEngine`.

Handlers must be idempotent: a job runs at least once, and again when its worker died
before recording the outcome. Two ways to get "its effect happens once":

- write the effect and :meth:`JobContext.complete` in the same transaction: the job is
  marked done with its effect, and a handler that lost its lease (another runner took the
  job over) cannot commit at all;
- or check before acting (a certificate already renewed has a successor; a notice already
  sent has a ledger row), so a repeat finds nothing left to do.

Arguments are ids, never secrets: a job's ``args`` (and its idempotency key) are shown to
operators by ``GET /api/v1/jobs`` and ``lemur jobs``, kept for ``job_retention_days`` and
written unencrypted. A handler that needs a secret (a plugin's password, a private key)
loads it by id from where it is stored encrypted; never enqueue one, and never put one in
an exception message (it becomes the job's ``last_error``).

Raise :class:`PermanentJobError` for failures a retry cannot fix (the certificate was
deleted, the options are wrong); any other exception is retried with exponential backoff
and jitter, up to the kind's ``max_attempts``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from lemur.jobs.models import Job, JobState

if TYPE_CHECKING:
    from lemur.authz import Principal
    from lemur.container import Container
    from lemur.services import Services

log = logging.getLogger("lemur.jobs")


class PermanentJobError(Exception):
    """A failure that retrying cannot fix: the job fails at once, with this message."""


class LeaseLost(Exception):
    """The job was taken over by another runner (this runner's lease ran out)."""


@dataclass(frozen=True)
class JobKind:
    name: str
    handler: Callable[[JobContext], None]
    description: str
    max_attempts: int = 5
    # Retry n waits about backoff_base * 2**(n-1) seconds (0.5x to 1.5x), at most backoff_cap.
    backoff_base: float = 30.0
    backoff_cap: float = 3600.0
    # How long a runner may hold the job before another may take it over.
    lease_seconds: float = 600.0


class JobKinds(Mapping[str, JobKind]):
    def __init__(self, kinds: Iterable[JobKind] = ()) -> None:
        self._kinds: dict[str, JobKind] = {}
        for kind in kinds:
            self.add(kind)

    def add(self, kind: JobKind) -> None:
        if kind.name in self._kinds:
            raise ValueError(f"job kind {kind.name!r} registered twice")
        self._kinds[kind.name] = kind

    def __getitem__(self, name: str) -> JobKind:
        return self._kinds[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)


@dataclass
class JobContext:
    """What a handler gets: the job's arguments and the installation's collaborators."""

    container: Container
    job_id: int
    kind: str
    args: Mapping[str, Any]
    attempt: int
    max_attempts: int
    logger: logging.Logger = field(default_factory=lambda: log)
    completed: bool = False

    @property
    def now(self) -> dt.datetime:
        return self.container.clock.now()

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts

    def services(self, actor: Principal | None = None) -> Services:
        """A service factory acting as ``actor`` (default: the job system itself)."""
        from lemur.authz import system_principal
        from lemur.services import Services

        return Services(self.container, actor or system_principal(self.kind))

    def complete(self, session: Session) -> None:
        """Mark the job succeeded inside ``session``'s transaction, together with the effect
        written there. Raises :class:`LeaseLost` (rolling the effect back with it) when
        another runner has taken the job over."""
        now = self.now
        done = session.execute(
            update(Job)
            .where(
                Job.id == self.job_id,
                Job.state == JobState.RUNNING.value,
                Job.attempts == self.attempt,
            )
            .values(
                state=JobState.SUCCEEDED.value,
                finished_at=now,
                lease_until=None,
                last_error=None,
            )
            .execution_options(synchronize_session=False)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise LeaseLost(f"job {self.job_id} was taken over by another runner")
        self.completed = True
