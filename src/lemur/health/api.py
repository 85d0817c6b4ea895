"""/health: the process answers. /ready: the database answers and its schema is current."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from lemur.container import Container
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


@router.get("/ready", responses=READY_RESPONSES)
def ready(container: Container = Depends(get_container)) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with container.db.read_engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current, head = current_revision(container.db.read_engine), head_revision()
        checks["migrations"] = "ok" if current == head else f"at {current or 'none'}, need {head}"
    except Exception as exc:  # any database failure means "not ready", reported, not raised
        checks["database"] = f"unreachable: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values()) and "migrations" in checks
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503
    )
