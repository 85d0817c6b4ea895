"""``GET /api/v1/statistics``: the dashboard's figures about certificates, for the caller's
teams (``scope=mine``, the default) or, for roles that read every team's certificates
(admin, security, read-only), every certificate (``scope=all``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from lemur.authz import Action
from lemur.services import Services
from lemur.statistics.schemas import StatisticsOut
from lemur.statistics.service import Scope
from lemur.web.api import services_for

router = APIRouter(prefix="/api/v1/statistics", tags=["statistics"])


@router.get("", response_model=StatisticsOut)
def statistics(
    scope: Scope = Query(
        Scope.MINE,
        description="mine: the certificates of your teams; all: every certificate (admin, "
        "security and read-only users)",
    ),
    services: Services = Depends(services_for(Action.CERTIFICATE_READ)),
) -> StatisticsOut:
    """Certificates expiring within 7, 30 and 90 days, issued in the last 7 and 30 days
    (with the 5 newest), revoked (with the 5 most recent), and counts by team, by authority
    (the 10 largest and the rest) and by status. Figures are reused for up to
    ``max_age_seconds`` (``computed_at`` says when they were counted)."""
    return StatisticsOut.of(services.statistics().statistics(scope))
