"""/health: the process answers. /ready: the database is the one this server started with,
answers, has room to write, and its schema is current."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from lemur.container import Container
from lemur.health.database import MIN_FREE_BYTES, read_instance_id
from lemur.migrate import current_revision, head_revision
from lemur.web.api import get_container

router = APIRouter(tags=["health"])


class ReadyOut(BaseModel):
    status: str
    checks: dict[str, str]


READY_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"model": ReadyOut, "description": "Ready."},
    503: {"model": ReadyOut, "description": "Not ready: `checks` says what failed."},
}


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


def _database_problem(container: Container) -> str | None:
    """What keeps the database from serving, or None. Raises if it cannot be reached."""
    guard = container.file_guard
    if guard is not None:
        problem = guard.problem() or guard.content_problem()
        if problem is not None:
            return f"unusable: {problem}"
    with container.db.read_engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    if guard is not None and guard.free_bytes() < MIN_FREE_BYTES:
        return (
            f"storage_full: less than {MIN_FREE_BYTES >> 20} MiB free on the database's disk; "
            "writes fail until space is freed"
        )
    return None


@router.get("/ready", responses=READY_RESPONSES)
def ready(container: Container = Depends(get_container)) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        checks["database"] = _database_problem(container) or "ok"
        if checks["database"] == "ok" or checks["database"].startswith("storage_full"):
            current, head = current_revision(container.db.read_engine), head_revision()
            checks["migrations"] = (
                "ok" if current == head else f"at {current or 'none'}, need {head}"
            )
            if checks["migrations"] == "ok" and checks["database"] == "ok":
                found = read_instance_id(container.db, container.keyring)
                if found != container.instance_id:
                    checks["database"] = (
                        "wrong_database: not the database this server started with "
                        "(its instance id differs); check LEMUR_DATABASE_URL and restart"
                    )
    except Exception as exc:  # any database failure means "not ready", reported, not raised
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values()) and "migrations" in checks
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "checks": checks},
        status_code=200 if ok else 503,
        headers=None if ok else {"Retry-After": "5"},
    )
