"""The name check's request and answer (POST /api/v1/certificates/name-check)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from lemur.certificates.name_check import NameCheck, NameReport, RequestLimits
from lemur.certificates.schemas import MAX_NAMES, Ref
from lemur.crypto.profiles import Profile
from lemur.ids import BodyId
from lemur.text import Line


class NameCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: list[Line] = Field(
        default_factory=list,
        max_length=MAX_NAMES,
        description="names as typed: DNS names, IP addresses, email addresses or URIs",
    )
    team_id: BodyId | None = Field(None, description="the team the certificate would be for")
    authority_id: BodyId | None = Field(
        None, description="the authority to check against; default: the request form's default"
    )
    profile: Profile = Field(Profile.SERVER, description="for the validity limits")


class ProblemOut(BaseModel):
    code: str
    message: str


class WildcardOut(BaseModel):
    base: str
    covers: str = Field(description="in words")
    example: str = Field(description="a name it covers")
    does_not_cover: list[str] = Field(description="the base itself, and a deeper name")


class SuggestionOut(BaseModel):
    name: str
    reason: str


class ExistingOut(BaseModel):
    id: int
    team: Ref | None
    not_after: dt.datetime


class NameOut(BaseModel):
    input: str
    kind: str = Field(description="dns, ip, email or uri")
    normalized: str | None = Field(description="as the certificate would carry it")
    unicode: str | None = Field(description="internationalised names in Unicode (U-labels)")
    valid: bool
    permitted: bool | None = Field(
        description="whether the authority may certify it; null when the name is invalid or "
        "no authority is chosen"
    )
    error: ProblemOut | None = Field(description="why it cannot be issued, if it cannot")
    wildcard_covers: WildcardOut | None
    covered_by: str | None = Field(description="a wildcard in the list that already covers it")
    suggestions: list[SuggestionOut]
    held_by_other_team: bool = Field(
        description="a live certificate for this name belongs to a team you are not in"
    )
    existing: list[ExistingOut] = Field(
        description="live certificates for this name that you may read"
    )

    @classmethod
    def of(cls, report: NameReport) -> NameOut:
        facts, problem, wildcard = report.facts, report.problem, report.wildcard
        return cls(
            input=facts.input,
            kind=facts.kind,
            normalized=facts.normalized,
            unicode=facts.unicode,
            valid=facts.valid,
            permitted=report.permitted,
            error=None
            if problem is None
            else ProblemOut(code=problem.code, message=problem.message),
            wildcard_covers=None
            if wildcard is None
            else WildcardOut(
                base=wildcard.base,
                covers=wildcard.summary,
                example=wildcard.example,
                does_not_cover=list(wildcard.not_covered),
            ),
            covered_by=report.covered_by,
            suggestions=[SuggestionOut(name=s.name, reason=s.reason) for s in report.suggestions],
            held_by_other_team=report.held_by_other_team,
            existing=[
                ExistingOut(
                    id=h.certificate_id,
                    team=None
                    if h.team_id is None or h.team_name is None
                    else Ref(id=h.team_id, name=h.team_name),
                    not_after=h.not_after,
                )
                for h in report.existing
            ],
        )


class LimitsOut(BaseModel):
    id: int
    name: str
    cab_forum: bool
    profile: str
    default_validity_days: int
    max_validity_days: int = Field(
        description="for this profile, today: the authority's, the Baseline Requirements' (for "
        "a CA/B Forum authority) and the issuing CA's remaining lifetime"
    )
    key_types: list[str]
    recommended_key_type: str
    recommended_key_type_reason: str
    allowed_subject_fields: list[str]
    allowed_extended_key_usages: list[str]
    key_usages: dict[str, list[str]] = Field(description="the key usages possible per key type")

    @classmethod
    def of(cls, limits: RequestLimits) -> LimitsOut:
        authority = limits.authority
        return cls(
            id=authority.id,
            name=authority.name,
            cab_forum=authority.cab_forum,
            profile=limits.profile.value,
            default_validity_days=limits.default_validity_days,
            max_validity_days=limits.max_validity_days,
            key_types=[k.value for k in limits.key_types],
            recommended_key_type=limits.recommended_key_type.value,
            recommended_key_type_reason=limits.recommended_reason,
            allowed_subject_fields=[f.value for f in limits.subject_fields],
            allowed_extended_key_usages=[u.value for u in limits.extended_key_usages],
            key_usages={k.value: [u.value for u in v] for k, v in limits.key_usages.items()},
        )


class NameCheckOut(BaseModel):
    names: list[NameOut]
    authority: LimitsOut | None = Field(
        description="the authority checked against and its limits; null when none was given "
        "and there is no default"
    )

    @classmethod
    def of(cls, check: NameCheck) -> NameCheckOut:
        return cls(
            names=[NameOut.of(r) for r in check.names],
            authority=None if check.limits is None else LimitsOut.of(check.limits),
        )
