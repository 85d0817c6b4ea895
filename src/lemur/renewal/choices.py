"""The renewal settings' values and bounds, on their own so that authorities and teams can
show and validate them without importing the policy's window rule (which belongs to
certificates: lemur.certificates.renewal)."""

from __future__ import annotations

import enum

MIN_RENEW_BEFORE_DAYS = 1
MAX_RENEW_BEFORE_DAYS = 365


class RenewalPolicy(enum.StrEnum):
    AUTO = "auto"
    NOTIFY = "notify"
