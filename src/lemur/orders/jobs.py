"""``request.poll``: one poll of a pending request (lemur.certificates.pending). Each poll
schedules the next one itself (in the transaction that records the answer), so a request
is never polled by two jobs at once and a restart loses nothing: the next poll is a row."""

from __future__ import annotations

from lemur.jobs.registry import JobContext, JobKind, PermanentJobError
from lemur.orders.store import POLL


def poll(ctx: JobContext) -> None:
    request_id = ctx.args.get("request_id")
    if not isinstance(request_id, int) or isinstance(request_id, bool):
        raise PermanentJobError("request.poll: request_id must be an integer")
    with ctx.services() as services:
        record = services.pending().poll(request_id)
    ctx.logger.info("request %d: %s", request_id, record.state.value)


KINDS = (
    JobKind(
        POLL,
        poll,
        "asks a CA that answers later whether a requested certificate is ready",
        max_attempts=1,
        lease_seconds=300,
    ),
)
