"""Renewal policies (per authority, team, certificate) and the renewal preview.

- ``PUT /api/v1/authorities/{id}/renewal-policy`` (staff): the authority's policy and window;
- ``PUT|DELETE /api/v1/teams/{id}/renewal-policy`` (admin): the team's override, or none;
- ``PUT|DELETE /api/v1/certificates/{id}/renewal-policy`` (who may renew it): the
  certificate's override, or none; the answer shows the effective decision;
- ``GET /api/v1/renewals/preview``: what the next pass would renew and what it would only
  notify (with the reason), by expiry, cursor-paginated (``lemur cert renewals --dry-run``);
- ``POST /api/v1/renewals/run`` (staff): run the pass now (``lemur cert renewals --run``).
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from lemur.authz import Action
from lemur.certificates.schemas import Ref
from lemur.ids import PathId
from lemur.renewal.choices import MAX_RENEW_BEFORE_DAYS, MIN_RENEW_BEFORE_DAYS, RenewalPolicy
from lemur.renewal.selection import Candidate
from lemur.renewal.service import PolicySetting, PreviewItem
from lemur.services import Services
from lemur.text import Line
from lemur.web.api import services_for
from lemur.web.openapi import errors

router = APIRouter(tags=["renewal"])
MAX_PREVIEW_PAGE = 500

DAYS_DESCRIPTION = (
    "renewal window in days before expiry (1-365); null: inherit (the standard window is the "
    "last third of the lifetime, at most 30 days)"
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyIn(Strict):
    renewal_policy: RenewalPolicy | None = Field(
        None, description="auto: renew inside the window; notify: tell the owners; null: inherit"
    )
    renew_before_days: int | None = Field(
        None, ge=MIN_RENEW_BEFORE_DAYS, le=MAX_RENEW_BEFORE_DAYS, description=DAYS_DESCRIPTION
    )


class AuthorityPolicyIn(Strict):
    renewal_policy: RenewalPolicy = Field(
        description="auto: renew inside the window; notify: tell the owners"
    )
    renew_before_days: int | None = Field(
        None, ge=MIN_RENEW_BEFORE_DAYS, le=MAX_RENEW_BEFORE_DAYS, description=DAYS_DESCRIPTION
    )


class PolicyOut(BaseModel):
    renewal_policy: str | None
    renew_before_days: int | None

    @classmethod
    def of(cls, setting: PolicySetting) -> PolicyOut:
        return cls(
            renewal_policy=setting.renewal_policy, renew_before_days=setting.renew_before_days
        )


class EffectiveOut(BaseModel):
    action: str = Field(description="renew (Lemur renews it) or notify (its owners are told)")
    reason: str | None = Field(
        description="why Lemur will not renew it: csr (issued from a CSR), policy (notify), "
        "no_issuer (no authority Lemur can sign with)"
    )
    policy: str
    policy_source: str = Field(description="certificate, team, authority or default")
    renew_before_days: int | None
    window_source: str = Field(description="certificate, team, authority or default")
    window_starts_at: dt.datetime

    @classmethod
    def of(cls, c: Candidate) -> EffectiveOut:
        d = c.decision
        return cls(
            action="renew" if d.renews else "notify",
            reason=d.manual_reason.value if d.manual_reason else None,
            policy=d.policy.value,
            policy_source=d.policy_source,
            renew_before_days=d.renew_before_days,
            window_source=d.window_source,
            window_starts_at=c.window_starts,
        )


class CertificatePolicyOut(PolicyOut):
    effective: EffectiveOut | None = Field(
        description="what the renewal pass does with it; null when it does not look at it "
        "(replaced, revoked, a CA certificate or without a team)"
    )


class PreviewItemOut(EffectiveOut):
    certificate_id: int
    common_name: str | None
    names: list[str]
    team: Ref | None
    authority: Ref | None
    not_after: dt.datetime
    owners_notified: bool = Field(
        description="notify only: the owners were told already (each certificate once)"
    )
    job_state: str | None = Field(
        description="renew only: the state of its renewal job, if one was queued already"
    )

    @classmethod
    def of_item(cls, item: PreviewItem) -> PreviewItemOut:
        c = item.candidate
        return cls(
            **EffectiveOut.of(c).model_dump(),
            certificate_id=c.id,
            common_name=c.common_name,
            names=item.names,
            team=Ref(id=c.team_id, name=c.team_name) if c.team_name else None,
            authority=Ref(id=c.authority_id, name=c.authority_name)
            if c.authority_id is not None and c.authority_name
            else None,
            not_after=c.not_after,
            owners_notified=c.notified,
            job_state=item.job_state,
        )


class PreviewOut(BaseModel):
    at: dt.datetime
    items: list[PreviewItemOut]
    next_cursor: str | None


class RunOut(BaseModel):
    job_id: int | None = Field(description="null: a pass requested this minute is queued already")
    queued: bool


@router.put(
    "/api/v1/authorities/{authority_id}/renewal-policy",
    response_model=PolicyOut,
    responses=errors(404),
)
def put_authority_policy(
    authority_id: PathId,
    body: AuthorityPolicyIn,
    services: Services = Depends(services_for(Action.AUTHORITY_MANAGE)),
) -> PolicyOut:
    service = services.renewal()
    return PolicyOut.of(
        service.set_authority_policy(
            authority_id, body.renewal_policy.value, body.renew_before_days
        )
    )


@router.put(
    "/api/v1/teams/{team_id}/renewal-policy", response_model=PolicyOut, responses=errors(404)
)
def put_team_policy(
    team_id: PathId,
    body: PolicyIn,
    services: Services = Depends(services_for(Action.TEAM_MANAGE)),
) -> PolicyOut:
    service = services.renewal()
    policy = body.renewal_policy.value if body.renewal_policy else None
    return PolicyOut.of(service.set_team_policy(team_id, policy, body.renew_before_days))


@router.delete(
    "/api/v1/teams/{team_id}/renewal-policy", response_model=PolicyOut, responses=errors(404)
)
def delete_team_policy(
    team_id: PathId,
    services: Services = Depends(services_for(Action.TEAM_MANAGE)),
) -> PolicyOut:
    service = services.renewal()
    return PolicyOut.of(service.set_team_policy(team_id, None, None))


def _certificate_out(
    services: Services, certificate_id: int, setting: PolicySetting
) -> CertificatePolicyOut:
    found = services.renewal().effective(certificate_id)
    return CertificatePolicyOut(
        renewal_policy=setting.renewal_policy,
        renew_before_days=setting.renew_before_days,
        effective=EffectiveOut.of(found) if found else None,
    )


@router.put(
    "/api/v1/certificates/{certificate_id}/renewal-policy",
    response_model=CertificatePolicyOut,
    responses=errors(404),
)
def put_certificate_policy(
    certificate_id: PathId,
    body: PolicyIn,
    services: Services = Depends(services_for(Action.CERTIFICATE_ISSUE)),
) -> CertificatePolicyOut:
    policy = body.renewal_policy.value if body.renewal_policy else None
    setting = services.renewal().set_certificate_policy(
        certificate_id, policy, body.renew_before_days
    )
    return _certificate_out(services, certificate_id, setting)


@router.delete(
    "/api/v1/certificates/{certificate_id}/renewal-policy",
    response_model=CertificatePolicyOut,
    responses=errors(404),
)
def delete_certificate_policy(
    certificate_id: PathId,
    services: Services = Depends(services_for(Action.CERTIFICATE_ISSUE)),
) -> CertificatePolicyOut:
    setting = services.renewal().set_certificate_policy(certificate_id, None, None)
    return _certificate_out(services, certificate_id, setting)


@router.get("/api/v1/renewals/preview", response_model=PreviewOut)
def preview(
    limit: int = Query(100, ge=1, le=MAX_PREVIEW_PAGE),
    cursor: Line | None = Query(None, max_length=200),
    services: Services = Depends(services_for(Action.CERTIFICATE_READ)),
) -> PreviewOut:
    """Certificates inside their renewal window, by expiry, and what the next pass does with
    each: renew, or notify (with the reason). Members see their teams' certificates."""
    page = services.renewal().preview(limit=limit, cursor=cursor)
    return PreviewOut(
        at=page.at,
        items=[PreviewItemOut.of_item(i) for i in page.items],
        next_cursor=page.next_cursor,
    )


@router.post("/api/v1/renewals/run", response_model=RunOut, status_code=202)
def run_now(
    services: Services = Depends(services_for(Action.JOB_MANAGE)),
) -> RunOut:
    """Queue a renewal pass to run now (the runner picks it up at once)."""
    job_id = services.renewal().run_pass_now()
    return RunOut(job_id=job_id, queued=job_id is not None)
