"""The events a rule can name, the audit actions they come from, and threshold rules."""

from __future__ import annotations

import enum

from lemur.errors import InvalidInput


class Event(enum.StrEnum):
    EXPIRING = "expiring"
    ISSUED = "issued"
    RENEWED = "renewed"
    REVOKED = "revoked"
    RENEWAL_FAILED = "renewal_failed"
    RENEWAL_NEEDED = "renewal_needed"
    REQUEST_FAILED = "request_failed"
    DEPLOYMENT_FAILED = "deployment_failed"
    JOB_FAILED = "job_failed"
    AUDIT_CHAIN_BROKEN = "audit_chain_broken"


# The audit log is the outbox of these events: each is written in the same transaction as
# the change it records, and the events job turns it into notices.
ACTIONS: dict[str, Event] = {
    "certificate.issue": Event.ISSUED,
    "certificate.renew": Event.RENEWED,
    "certificate.revoke": Event.REVOKED,
    "certificate.renewal_failed": Event.RENEWAL_FAILED,
    "certificate.renewal_manual": Event.RENEWAL_NEEDED,
    "request.fail": Event.REQUEST_FAILED,
    "certificate.deploy_failed": Event.DEPLOYMENT_FAILED,
    "job.fail": Event.JOB_FAILED,
    "audit.chain_broken": Event.AUDIT_CHAIN_BROKEN,
}

DEFAULT_THRESHOLDS = (30, 14, 7, 3, 1)
MAX_THRESHOLD = 365
MAX_THRESHOLDS = 10

# Plugins whose recipients are addresses; for every other notifier (slack, webhook) the
# channel itself is the one recipient, and it gets one digest per pass.
ADDRESSED_PLUGINS = frozenset({"email", "ses"})
CHANNEL_RECIPIENT = "channel"


def check_thresholds(values: list[int], *, field: str = "thresholds") -> list[int]:
    """Thresholds as stored: checked (1..365, unique, at most 10), largest first."""
    if not values:
        raise InvalidInput(
            "give at least one threshold (days before expiry)",
            code="invalid_thresholds",
            field=field,
        )
    if len(values) > MAX_THRESHOLDS:
        raise InvalidInput(
            f"at most {MAX_THRESHOLDS} thresholds", code="invalid_thresholds", field=field
        )
    seen: set[int] = set()
    for index, days in enumerate(values):
        if not 1 <= days <= MAX_THRESHOLD:
            raise InvalidInput(
                f"a threshold is a number of days from 1 to {MAX_THRESHOLD}, not {days}",
                code="invalid_threshold",
                field=f"{field}[{index}]",
            )
        if days in seen:
            raise InvalidInput(
                f"threshold {days} is given twice",
                code="duplicate_threshold",
                field=f"{field}[{index}]",
            )
        seen.add(days)
    return sorted(values, reverse=True)
