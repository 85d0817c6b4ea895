"""Jinja filters the templates share: times, relative days, sizes, query strings."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Mapping
from typing import Any

from jinja2 import Environment


def when(value: dt.datetime | None) -> str:
    """A timestamp as people read it, in UTC to the minute."""
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def day(value: dt.datetime | None) -> str:
    return "—" if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%d")


def relative(value: dt.datetime | None, now: dt.datetime) -> str:
    """'in 12 days', '3 days ago', 'today'."""
    if value is None:
        return ""
    days = (value - now).total_seconds() / 86400
    if abs(days) < 1:
        hours = round(abs(days) * 24)
        if hours < 1:
            return "now"
        return f"in {hours} h" if days > 0 else f"{hours} h ago"
    n = int(abs(days))
    unit = "day" if n == 1 else "days"
    return f"in {n} {unit}" if days > 0 else f"{n} {unit} ago"


def query(params: Mapping[str, Any], **changes: Any) -> str:
    """``?a=1&b=2`` from ``params`` with ``changes`` applied (None removes a key)."""
    merged = {k: v for k, v in params.items() if v not in (None, "")}
    for key, value in changes.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return "?" + urllib.parse.urlencode(merged, doseq=True) if merged else "?"


def install_filters(env: Environment) -> None:
    env.filters["when"] = when
    env.filters["day"] = day
    env.filters["relative"] = relative
    env.filters["pairs"] = lambda values: [(v, v) for v in values]
    env.globals["query"] = query
