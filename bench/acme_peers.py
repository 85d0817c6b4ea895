"""The ACME benchmarks' peers: the test suite's Pebble and BIND9 (tests/peers/pebble.py,
started by hand here, without pytest) and its request and option helpers."""

from __future__ import annotations

from tests.issuers.acme.conftest import base_options, dns_options, make_context, make_request
from tests.peers.pebble import BindServer, PebblePeer

__all__ = [
    "BindServer",
    "PebblePeer",
    "base_options",
    "dns_options",
    "make_context",
    "make_request",
]
