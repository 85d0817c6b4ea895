"""LEMUR_METRICS_ADDRESS: where /metrics is served without authentication."""

from __future__ import annotations


def parse_address(value: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"`` or ``"[::1]:9464"`` as (host, port)."""
    host, sep, port = value.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"'{value}' is not HOST:PORT (e.g. 127.0.0.1:9464)")
    return host, int(port)
