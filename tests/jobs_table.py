"""TODO(merge): remove this module once the job system's migration creates ``jobs``.

The metrics read the job system's table, built on another branch. Until it is merged, the
test databases get a table with the columns the job system will have (as announced:
lemur.jobs.models.Job); where ``jobs`` already exists, nothing is done.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, inspect

metadata = MetaData()
JOBS = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False, default=5),
    Column("run_after", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("last_error", String(2000)),
    Column("lease_until", DateTime(timezone=True)),
    Column("worker", String(200)),
)


def ensure_jobs_table(engine: Engine) -> bool:
    """Create ``jobs`` if missing; True if this call created it."""
    if inspect(engine).has_table("jobs"):
        return False
    metadata.create_all(engine)
    return True
