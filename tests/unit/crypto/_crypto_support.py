"""Shared helpers for the crypto tests: a frozen clock, CA hierarchies, external checkers."""

from __future__ import annotations

import datetime
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from lemur.crypto.issuance import build_ca_certificate
from lemur.crypto.keys import KeySpec, PrivateKey, generate_private_key

NOW = datetime.datetime(2026, 11, 1, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
OCSP_URL = "http://ocsp.pki.example.com/"
CRL_BASE = "http://pki.example.com/crl/"
CA_ISSUERS_BASE = "http://pki.example.com/ca/"


def ca_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lemur Test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


@dataclass(frozen=True)
class Hierarchy:
    root_key: PrivateKey
    root: x509.Certificate
    intermediate_key: PrivateKey
    intermediate: x509.Certificate


def make_hierarchy(spec: KeySpec, *, cab_forum: bool) -> Hierarchy:
    root_key = generate_private_key(spec)
    root = build_ca_certificate(
        subject=ca_name(f"Lemur Test Root {spec}"),
        public_key=root_key.public_key(),
        issuer_cert=None,
        issuer_key=root_key,
        not_before=NOW - 30 * DAY,
        not_after=NOW + 3650 * DAY,
        cab_forum=cab_forum,
    )
    intermediate_key = generate_private_key(spec)
    intermediate = build_ca_certificate(
        subject=ca_name(f"Lemur Test Intermediate {spec}"),
        public_key=intermediate_key.public_key(),
        issuer_cert=root,
        issuer_key=root_key,
        not_before=NOW - 29 * DAY,
        not_after=NOW + 1825 * DAY,
        path_length=0,
        ocsp_url=OCSP_URL,
        ca_issuers_url=CA_ISSUERS_BASE + "root.cer",
        crl_url=CRL_BASE + "root.crl",
        cab_forum=cab_forum,
    )
    return Hierarchy(root_key, root, intermediate_key, intermediate)


class HierarchyCache:
    """Root + intermediate per (key spec, cab_forum), built once per test session."""

    def __init__(self) -> None:
        self._cache: dict[tuple[KeySpec, bool], Hierarchy] = {}

    def get(self, spec: KeySpec, *, cab_forum: bool = False) -> Hierarchy:
        key = (spec, cab_forum)
        if key not in self._cache:
            self._cache[key] = make_hierarchy(spec, cab_forum=cab_forum)
        return self._cache[key]


def write_pem(path: Path, *certs: x509.Certificate) -> Path:
    from lemur.crypto.parsing import certificates_to_pem

    path.write_bytes(certificates_to_pem(list(certs)))
    return path


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=30, check=False
    )
