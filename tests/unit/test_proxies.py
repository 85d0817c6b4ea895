"""Which address is the client's, given the peer, X-Forwarded-For and the trusted proxies."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from lemur.config import Settings
from lemur.web.proxies import client_behind_proxies

TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8:1::/48"))


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        # An untrusted peer is the client, whatever it writes.
        ("198.51.100.7", ["203.0.113.5"], "198.51.100.7"),
        # A trusted proxy: the right-most address that is not a trusted proxy.
        ("10.0.0.2", ["203.0.113.5"], "203.0.113.5"),
        ("10.0.0.2", ["1.2.3.4, 203.0.113.5, 10.0.0.9"], "203.0.113.5"),
        ("10.0.0.2", ["1.2.3.4", "203.0.113.5"], "203.0.113.5"),  # repeated headers
        ("10.0.0.2", ["203.0.113.5:4711"], "203.0.113.5"),
        ("10.0.0.2", ["[2001:db8:2::7]:443"], "2001:db8:2::7"),
        ("2001:db8:1::1", ["2001:db8:2::7"], "2001:db8:2::7"),
        # Garbage ends the walk at the proxy that passed it on.
        ("10.0.0.2", ["203.0.113.5, not-an-address"], "10.0.0.2"),
        ("10.0.0.2", ["not-an-address, 10.0.0.9"], "10.0.0.9"),
        # No header, or only proxies in it.
        ("10.0.0.2", [], "10.0.0.2"),
        ("10.0.0.2", ["10.0.0.9"], "10.0.0.9"),
        ("testclient", ["203.0.113.5"], "testclient"),
    ],
)
def test_client_behind_proxies(peer: str, forwarded: list[str], client: str) -> None:
    assert client_behind_proxies(peer, forwarded, TRUSTED) == client


def test_no_trusted_proxies_means_the_peer() -> None:
    assert client_behind_proxies("127.0.0.1", ["203.0.113.5"], ()) == "127.0.0.1"


def test_trusted_proxies_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LEMUR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    assert Settings().trusted_proxy_networks == ()
    monkeypatch.setenv("LEMUR_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.7,::1")
    assert [str(n) for n in Settings().trusted_proxy_networks] == [
        "10.0.0.0/8",
        "192.0.2.7/32",
        "::1/128",
    ]
    monkeypatch.setenv("LEMUR_TRUSTED_PROXIES", "10.0.0.0/8, load-balancer")
    with pytest.raises(ValidationError, match="'load-balancer' is not an IP address or network"):
        Settings()
