"""The request form's name check: what each typed name means, whether the chosen authority
may certify it, what is missing from the apex/www pair, and whether another team already
holds a live certificate for it; plus the authority's limits for the form.

Every rule is issuance's own: names are validated by the same constructor
(:func:`lemur.crypto.name_facts.examine`), the authority's policy by the same functions
(:func:`lemur.crypto.name_constraints.check_name_constraints`,
:func:`lemur.crypto.profiles.check_cab_forum_names`), validity by
:func:`lemur.certificates.requests.validity_limits`. The whole list costs a constant number
of statements: the authority, its CA certificates, and one indexed query for the holders.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from lemur.authorities.signing import (
    AuthorityGateway,
    IssuingAuthority,
    authority_not_found,
    check_can_sign,
    default_authority,
)
from lemur.authz import Action, Principal, allowed, authorize
from lemur.certificates.queries import Holder, live_holders
from lemur.certificates.requests import validity_limits
from lemur.clock import Clock
from lemur.crypto.keys import KeySpec
from lemur.crypto.name_constraints import check_name_constraints
from lemur.crypto.name_facts import (
    DNS,
    EMAIL,
    NameFacts,
    WildcardCoverage,
    covering,
    examine,
    wildcard_coverage,
    www_partner,
)
from lemur.crypto.names import SubjectAltNames, covering_wildcards
from lemur.crypto.profiles import Profile, allowed_key_specs, check_cab_forum_names
from lemur.crypto.subjects import SubjectField
from lemur.crypto.usages import ExtendedKeyUsageName, KeyUsageName, key_usages_for
from lemur.db import UnitOfWork
from lemur.errors import InvalidInput
from lemur.ids import MAX_ID

RECOMMENDED_KEY_TYPE = KeySpec.EC_P256
RECOMMENDED_REASON = (
    "ECDSA P-256: as strong as RSA-3072 with much smaller keys and signatures, so faster "
    "handshakes, and every current client supports it"
)
MAX_EXISTING = 5


@dataclass(frozen=True)
class Suggestion:
    name: str
    reason: str


@dataclass(frozen=True)
class NameReport:
    """One name of the list. ``problem`` is why it cannot be issued: invalid (``facts``
    carries the same error), or not ``permitted`` by the authority. ``existing`` lists only
    the live certificates for it that the caller may read."""

    facts: NameFacts
    permitted: bool | None
    problem: InvalidInput | None
    wildcard: WildcardCoverage | None
    covered_by: str | None
    suggestions: tuple[Suggestion, ...]
    held_by_other_team: bool
    existing: tuple[Holder, ...]


@dataclass(frozen=True)
class RequestLimits:
    """What the chosen authority allows a request, for one profile, as of now."""

    authority: IssuingAuthority
    profile: Profile
    default_validity_days: int
    max_validity_days: int
    key_types: tuple[KeySpec, ...]
    recommended_key_type: KeySpec
    recommended_reason: str
    subject_fields: tuple[SubjectField, ...]
    extended_key_usages: tuple[ExtendedKeyUsageName, ...]
    key_usages: dict[KeySpec, tuple[KeyUsageName, ...]]


@dataclass(frozen=True)
class NameCheck:
    names: tuple[NameReport, ...]
    limits: RequestLimits | None


def limits_of(
    authority: IssuingAuthority,
    profile: Profile,
    *,
    now: dt.datetime,
    issuer_not_after: dt.datetime | None,
) -> RequestLimits:
    """The authority's limits; the maximum validity also stops at the issuer's expiry."""
    default, maximum = validity_limits(authority, profile, now=now)
    if issuer_not_after is not None:
        maximum = max(min(maximum, (issuer_not_after - now).days - 1), 0)
        default = min(default, maximum)
    key_types = allowed_key_specs(cab_forum=authority.cab_forum)
    return RequestLimits(
        authority=authority,
        profile=profile,
        default_validity_days=default,
        max_validity_days=maximum,
        key_types=key_types,
        recommended_key_type=RECOMMENDED_KEY_TYPE,
        recommended_reason=RECOMMENDED_REASON,
        subject_fields=authority.allowed_subject_fields,
        extended_key_usages=authority.allowed_extended_key_usages,
        key_usages={k: key_usages_for(k, cab_forum=authority.cab_forum) for k in key_types},
    )


def _index_forms(facts: NameFacts) -> list[str]:
    """The forms the name index holds for a name, and the wildcards that would serve it."""
    if facts.normalized is None:
        return []
    name = facts.normalized.lower() if facts.kind == EMAIL else facts.normalized
    if facts.kind == DNS:
        return [name, *covering_wildcards(name)]
    return [name]


class NameCheckService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        authorities: AuthorityGateway,
        clock: Clock,
        actor: Principal,
        default_authority_name: str | None,
    ) -> None:
        self._uow = uow
        self._authorities = authorities
        self._clock = clock
        self._actor = actor
        self._default_name = default_authority_name

    def signing_authorities(self) -> tuple[list[IssuingAuthority], IssuingAuthority | None]:
        """The authorities a request can name, and the one to preselect (if any)."""
        found = self._authorities.signing_authorities(self._uow.read)
        return found, default_authority(found, self._default_name)

    def _authority(self, authority_id: int | None) -> IssuingAuthority | None:
        if authority_id is None:
            return self.signing_authorities()[1]
        found = (
            self._authorities.get(self._uow.read, authority_id)
            if 0 < authority_id <= MAX_ID
            else None
        )
        if found is None:
            raise authority_not_found(authority_id, field="authority_id")
        check_can_sign(found, field="authority_id")
        return found

    def limits(
        self, authorities: list[IssuingAuthority], profile: Profile
    ) -> dict[int, RequestLimits]:
        """Each authority's limits for ``profile``, by id (one statement for them all)."""
        chains = self._authorities.chains_of(self._uow.read, authorities)
        return {a.id: self._limits(a, profile, chains.get(a.id, ())) for a in authorities}

    def _limits(
        self, authority: IssuingAuthority, profile: Profile, chain: tuple[x509.Certificate, ...]
    ) -> RequestLimits:
        return limits_of(
            authority,
            profile,
            now=self._clock.now(),
            issuer_not_after=chain[0].not_valid_after_utc if chain else None,
        )

    def check(
        self,
        names: Sequence[str],
        *,
        team_id: int | None = None,
        authority_id: int | None = None,
        profile: Profile = Profile.SERVER,
    ) -> NameCheck:
        """Every name examined as issuance would; the authority defaults to the form's
        default. Raises PermissionDenied when the caller may not issue (for ``team_id``),
        NotFound / InvalidInput(authority_cannot_sign, authority_inactive) for an authority
        that cannot be asked."""
        authorize(self._actor, Action.CERTIFICATE_ISSUE, team_id=team_id)
        authority = self._authority(authority_id)
        chain: tuple[x509.Certificate, ...] = ()
        limits = None
        if authority is not None:
            chain = self._authorities.chain_of(self._uow.read, authority)
            limits = self._limits(authority, profile, chain)
        examined = [examine(name) for name in names]
        listed = {f.normalized for f in examined if f.normalized is not None}
        wildcards = {n for n in listed if n.startswith("*.")}
        holders = live_holders(
            self._uow.read,
            [form for f in examined for form in _index_forms(f)],
            now=self._clock.now(),
        )
        reports = []
        for facts in examined:
            problem, permitted = facts.error, None
            if facts.sans is not None and authority is not None:
                refusal = self._refusal(authority, chain, facts.sans)
                permitted, problem = refusal is None, refusal
            normalized = facts.normalized
            held_by_other_team, existing = self._holders(facts, holders, team_id)
            reports.append(
                NameReport(
                    facts=facts,
                    permitted=permitted,
                    problem=problem,
                    wildcard=wildcard_coverage(normalized) if normalized else None,
                    covered_by=covering(normalized, wildcards)
                    if normalized and facts.kind == DNS
                    else None,
                    suggestions=self._suggestions(facts, listed, wildcards, authority, chain),
                    held_by_other_team=held_by_other_team,
                    existing=existing,
                )
            )
        return NameCheck(tuple(reports), limits)

    @staticmethod
    def _refusal(
        authority: IssuingAuthority, chain: tuple[x509.Certificate, ...], sans: SubjectAltNames
    ) -> InvalidInput | None:
        """Why the authority would refuse the name at issuance, if it would."""
        try:
            if authority.cab_forum:
                check_cab_forum_names(sans)
            check_name_constraints(authority.name, chain, sans)
        except InvalidInput as exc:
            return exc
        return None

    def _suggestions(
        self,
        facts: NameFacts,
        listed: set[str],
        wildcards: set[str],
        authority: IssuingAuthority | None,
        chain: tuple[x509.Certificate, ...],
    ) -> tuple[Suggestion, ...]:
        """The other half of the apex/www pair, unless the list has it (or a wildcard that
        covers it), or it could not be issued."""
        if facts.kind != DNS or facts.normalized is None:
            return ()
        partner = www_partner(facts.normalized)
        if partner is None or partner in listed or covering(partner, wildcards):
            return ()
        candidate = examine(partner)
        if candidate.sans is None or (
            authority is not None and self._refusal(authority, chain, candidate.sans)
        ):
            return ()
        reason = (
            f"visitors who type {facts.normalized} without www reach the same site"
            if facts.normalized.startswith("www.")
            else f"visitors often type www.{facts.normalized}"
        )
        return (Suggestion(partner, reason),)

    def _holders(
        self, facts: NameFacts, holders: list[Holder], team_id: int | None
    ) -> tuple[bool, tuple[Holder, ...]]:
        """Whether a live certificate for the name belongs to a team that is neither one of
        the caller's nor the requested one, and the live certificates for it that the caller
        may read (only those are named)."""
        forms = set(_index_forms(facts))
        mine = [h for h in holders if h.name in forms]
        other = any(
            h.team_id is not None and h.team_id not in self._actor.team_ids and h.team_id != team_id
            for h in mine
        )
        readable = tuple(
            h
            for h in mine
            if allowed(
                self._actor,
                Action.CERTIFICATE_READ,
                team_id=h.team_id if h.team_id is not None else -1,
            )
        )
        # One certificate can carry the name and a wildcard for it: list it once.
        unique = tuple({h.certificate_id: h for h in readable}.values())
        return other, unique[:MAX_EXISTING]
