"""The renewal policy and what it decides for one certificate.

A policy is set per authority ("auto" by default) and may be overridden per team and per
certificate; the most specific setting wins (certificate, then team, then authority), for
the policy and for the window separately. What Lemur cannot renew itself is "manual" with a
reason, whatever the policy says:

- ``no_issuer``: no authority Lemur can sign with (imported or external certificates);
- ``csr``: issued from a CSR (Lemur does not hold the key, and a key it generated would
  be one the owners never asked for);
- ``policy``: the effective policy is "notify".
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from lemur.certificates.renewal import renewal_window
from lemur.errors import InvalidInput
from lemur.renewal.choices import MAX_RENEW_BEFORE_DAYS, MIN_RENEW_BEFORE_DAYS, RenewalPolicy

# An expired certificate is still renewed for this long after its expiry (Lemur was down,
# or a failing renewal was fixed); older ones are treated as abandoned and left alone.
RENEW_EXPIRED_WITHIN = dt.timedelta(days=30)


class ManualReason(enum.StrEnum):
    CSR = "csr"
    POLICY = "policy"
    NO_ISSUER = "no_issuer"


DEFAULT_POLICY = RenewalPolicy.AUTO


@dataclass(frozen=True)
class Settings:
    """One level's settings (None: inherit from the next level)."""

    policy: str | None = None
    renew_before_days: int | None = None


@dataclass(frozen=True)
class Decision:
    """What the pass does with a certificate: ``policy`` is the effective one (and where it
    was set), ``manual_reason`` is None when Lemur renews it itself."""

    policy: RenewalPolicy
    policy_source: str  # certificate | team | authority | default
    renew_before_days: int | None  # None: the standard window
    window_source: str
    manual_reason: ManualReason | None

    @property
    def renews(self) -> bool:
        return self.manual_reason is None


def _pick(levels: tuple[tuple[str, object | None], ...], default: object) -> tuple[object, str]:
    for source, value in levels:
        if value is not None:
            return value, source
    return default, "default"


def decide(
    certificate: Settings,
    team: Settings,
    authority: Settings,
    *,
    can_issue: bool,
    has_private_key: bool,
) -> Decision:
    """The effective policy and window of a certificate, and whether Lemur renews it."""
    policy, policy_source = _pick(
        (
            ("certificate", certificate.policy),
            ("team", team.policy),
            ("authority", authority.policy),
        ),
        DEFAULT_POLICY,
    )
    days, window_source = _pick(
        (
            ("certificate", certificate.renew_before_days),
            ("team", team.renew_before_days),
            ("authority", authority.renew_before_days),
        ),
        None,
    )
    effective = RenewalPolicy(str(policy)) if policy in set(RenewalPolicy) else DEFAULT_POLICY
    reason: ManualReason | None = None
    if not can_issue:
        reason = ManualReason.NO_ISSUER
    elif not has_private_key:
        reason = ManualReason.CSR
    elif effective is RenewalPolicy.NOTIFY:
        reason = ManualReason.POLICY
    return Decision(
        policy=effective,
        policy_source=policy_source,
        renew_before_days=days if isinstance(days, int) else None,
        window_source=window_source,
        manual_reason=reason,
    )


def window_starts(
    not_before: dt.datetime, not_after: dt.datetime, renew_before_days: int | None
) -> dt.datetime:
    """When a certificate enters its renewal window under ``renew_before_days`` (None: the
    standard window, lemur.certificates.renewal)."""
    if renew_before_days is None:
        return not_after - renewal_window(not_before, not_after)
    return not_after - dt.timedelta(days=renew_before_days)


def check_policy(value: str | None, *, field: str, required: bool = False) -> RenewalPolicy | None:
    """A policy from a request; raises InvalidInput(invalid_renewal_policy) naming ``field``."""
    if value is None:
        if required:
            raise InvalidInput(
                "an authority always has a renewal policy: auto or notify",
                code="invalid_renewal_policy",
                field=field,
            )
        return None
    if value not in set(RenewalPolicy):
        raise InvalidInput(
            f"renewal policy must be one of: {', '.join(RenewalPolicy)} (got {value!r})",
            code="invalid_renewal_policy",
            field=field,
        )
    return RenewalPolicy(value)


def check_days(value: int | None, *, field: str) -> int | None:
    """A window override from a request; raises InvalidInput(invalid_renew_before_days)."""
    if value is None:
        return None
    if not MIN_RENEW_BEFORE_DAYS <= value <= MAX_RENEW_BEFORE_DAYS:
        raise InvalidInput(
            f"renew_before_days must be from {MIN_RENEW_BEFORE_DAYS} to "
            f"{MAX_RENEW_BEFORE_DAYS} (got {value})",
            code="invalid_renew_before_days",
            field=field,
        )
    return value
