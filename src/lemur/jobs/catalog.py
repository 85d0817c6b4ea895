"""Every job kind Lemur runs. Each domain contributes its kinds here (one line each), so a
runner, the scheduler and the API know the same list."""

from __future__ import annotations

import time

from lemur.jobs.maintenance import KINDS as MAINTENANCE
from lemur.jobs.registry import JobContext, JobKind, JobKinds, PermanentJobError

MAX_NOOP_SECONDS = 60.0


def noop(ctx: JobContext) -> None:
    """Does nothing (optionally for a while): ``lemur jobs ping`` checks that a runner is
    alive with it, and the benchmarks measure the runners' own cost with it."""
    seconds = ctx.args.get("seconds", 0)
    if not isinstance(seconds, int | float) or not 0 <= seconds <= MAX_NOOP_SECONDS:
        raise PermanentJobError(f"noop: seconds must be a number from 0 to {MAX_NOOP_SECONDS:g}")
    if seconds:
        time.sleep(seconds)


BUILTIN = (
    JobKind(
        "noop",
        noop,
        "does nothing: checks that a runner is alive",
        max_attempts=1,
        lease_seconds=120,
    ),
)


def default_kinds() -> JobKinds:
    from lemur.deployments.jobs import KINDS as DEPLOYMENTS
    from lemur.notifications.jobs import KINDS as NOTIFICATIONS
    from lemur.orders.jobs import KINDS as ORDERS
    from lemur.renewal.jobs import KINDS as RENEWAL

    return JobKinds((*BUILTIN, *MAINTENANCE, *RENEWAL, *NOTIFICATIONS, *ORDERS, *DEPLOYMENTS))
