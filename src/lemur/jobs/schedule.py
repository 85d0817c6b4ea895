"""The schedule: which job kinds run periodically, and firing each tick exactly once.

A tick is a point in time on an entry's grid (every hour on the hour; every day at 08:00
UTC). Firing a tick enqueues the entry's job with the key ``schedule:<name>:<tick>``; the
job table's unique key makes a second firing of the same tick a no-op, so any number of
schedulers (embedded runners in several ``lemur serve`` processes, ``lemur scheduler``
processes) fire each tick once. A tick missed while Lemur was down is not fired late
one by one: the newest due tick fires at the next start, and the passes it runs catch up
by design (an expiry pass sends every notice not yet in its ledger).

Configuration (``LEMUR_SCHEDULE``, a JSON object, or ``[schedule]`` in lemur.toml) maps an
entry name to ``"off"``, an interval (``"15m"``, ``"1h"``, ``"2d"``) or a daily time
(``"daily@08:00"``, UTC); entries not named keep their default.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.orm import Session

from lemur.errors import ConfigurationError
from lemur.jobs.outbox import enqueue

EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class ScheduleEntry:
    name: str
    kind: str
    every: dt.timedelta
    offset: dt.timedelta = dt.timedelta(0)  # from midnight UTC, for daily entries
    description: str = ""
    args: Mapping[str, Any] = field(default_factory=dict)

    def tick(self, now: dt.datetime) -> dt.datetime:
        """The newest tick at or before ``now``."""
        periods = (now - EPOCH - self.offset) // self.every
        return EPOCH + self.offset + periods * self.every

    def next_tick(self, now: dt.datetime) -> dt.datetime:
        return self.tick(now) + self.every

    @property
    def spec(self) -> str:
        if self.every == dt.timedelta(days=1):
            minutes = int(self.offset.total_seconds()) // 60
            return f"daily@{minutes // 60:02d}:{minutes % 60:02d}"
        return format_interval(self.every)


HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

# The default schedule. An entry runs only when its job kind is installed.
DEFAULT_SCHEDULE: tuple[ScheduleEntry, ...] = (
    ScheduleEntry(
        "expiry-notifications",
        "notifications.expiry_pass",
        DAY,
        offset=dt.timedelta(hours=8),
        description="notify owners of certificates crossing an expiry threshold",
    ),
    ScheduleEntry(
        "renewal", "renewal.pass", HOUR, description="renew certificates inside their window"
    ),
    ScheduleEntry(
        "crl-refresh",
        "authorities.crl_refresh",
        HOUR,
        description="re-publish CRLs before their nextUpdate",
    ),
    ScheduleEntry(
        "cleanup",
        "maintenance.cleanup",
        HOUR,
        description="delete expired sessions and tokens, and old finished jobs",
    ),
    ScheduleEntry(
        "audit-verify",
        "audit.verify_chain",
        DAY,
        offset=dt.timedelta(hours=3),
        description="verify the audit chain; notify the security team if it is broken",
    ),
    ScheduleEntry(
        "notification-events",
        "notifications.events",
        dt.timedelta(minutes=1),
        description="turn new audit events (issued, revoked, job failed...) into notices",
    ),
)

_INTERVAL = re.compile(r"^(\d{1,5})([smhd])$")
_DAILY = re.compile(r"^daily@([01]\d|2[0-3]):([0-5]\d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def format_interval(every: dt.timedelta) -> str:
    seconds = int(every.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_spec(name: str, spec: str) -> tuple[dt.timedelta, dt.timedelta] | None:
    """``(every, offset)`` for a schedule value, or None for ``"off"``."""
    text = spec.strip().lower()
    if text == "off":
        return None
    if m := _DAILY.match(text):
        return DAY, dt.timedelta(hours=int(m[1]), minutes=int(m[2]))
    if m := _INTERVAL.match(text):
        every = dt.timedelta(seconds=int(m[1]) * _UNITS[m[2]])
        if every < dt.timedelta(seconds=10):
            raise ConfigurationError(
                f"schedule.{name}: {spec!r} is too often; the shortest interval is 10s",
                code="invalid_schedule",
            )
        return every, dt.timedelta(0)
    raise ConfigurationError(
        f"schedule.{name}: {spec!r} is not a schedule; use 'off', an interval such as "
        "'15m', '1h' or '1d', or a daily time such as 'daily@08:00' (UTC)",
        code="invalid_schedule",
    )


def build_schedule(
    overrides: Mapping[str, str], defaults: Iterable[ScheduleEntry] = DEFAULT_SCHEDULE
) -> tuple[ScheduleEntry, ...]:
    """The default schedule with ``overrides`` applied (names checked)."""
    entries = {e.name: e for e in defaults}
    unknown = sorted(set(overrides) - set(entries))
    if unknown:
        raise ConfigurationError(
            f"schedule: unknown entr{'ies' if len(unknown) > 1 else 'y'} "
            f"{', '.join(unknown)}; the entries are {', '.join(entries)}",
            code="invalid_schedule",
        )
    out = []
    for name, entry in entries.items():
        if name in overrides:
            parsed = parse_spec(name, overrides[name])
            if parsed is None:
                continue
            entry = replace(entry, every=parsed[0], offset=parsed[1])
        out.append(entry)
    return tuple(out)


def fire_due(
    session: Session, entries: Iterable[ScheduleEntry], now: dt.datetime
) -> list[tuple[str, int]]:
    """Enqueue the current tick of every entry, in ``session``'s transaction. Returns the
    entries fired now, with their job ids; ticks already fired (by anyone) are skipped."""
    fired = []
    for entry in entries:
        tick = entry.tick(now)
        job_id = enqueue(
            session,
            entry.kind,
            {**entry.args, "tick": tick.isoformat()},
            now=now,
            key=f"schedule:{entry.name}:{tick.isoformat()}",
            run_after=tick,
            max_attempts=3,
        )
        if job_id is not None:
            fired.append((entry.name, job_id))
    return fired


def runnable_schedule(
    entries: Iterable[ScheduleEntry], kinds: Mapping[str, object]
) -> tuple[ScheduleEntry, ...]:
    """The entries whose job kind is installed (an entry for a kind this installation does
    not run is left out rather than fired into a queue nobody serves)."""
    return tuple(e for e in entries if e.kind in kinds)
