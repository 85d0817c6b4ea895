"""Shared helpers for the crypto tests: a frozen clock, CA hierarchies, external checkers."""

from __future__ import annotations

import datetime
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID
from pkilint import finding_filter, loader
from pkilint.cabf import serverauth
from pkilint.pkix import certificate, extension, name
from pkilint.validation import ValidationFindingSeverity

from lemur.crypto.issuance import build_ca_certificate
from lemur.crypto.keys import KeySpec, PrivateKey, generate_private_key
from lemur.crypto.parsing import certificate_to_der

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


def _findings(results: object) -> list[str]:
    out = []
    for result in results:  # type: ignore[attr-defined]
        for description in result.finding_descriptions:
            if description.finding.severity <= ValidationFindingSeverity.ERROR:
                out.append(
                    f"{description.finding.severity.name} {description.finding.code} "
                    f"{description.message or ''} @ {result.node.path}"
                )
    return out


def _document(cert: x509.Certificate) -> object:
    return loader.RFC5280CertificateDocumentLoader().load_der_document(
        certificate_to_der(cert), "certificate"
    )


def pkix_errors(cert: x509.Certificate) -> list[str]:
    """ERROR-or-worse findings of pkilint's RFC 5280 linter (what lint_pkix_cert runs)."""
    validator = certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(
            name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
        ),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )
    return _findings(validator.validate(_document(cert).root))  # type: ignore[attr-defined]


def cabf_errors(cert: x509.Certificate) -> tuple[str, list[str]]:
    """(detected type, ERROR-or-worse findings) of pkilint's CA/B TLS BR linter, with the
    same finding filters lint_cabf_serverauth_cert applies by default."""
    document = _document(cert)
    cert_type = serverauth.determine_certificate_type(document)
    validator = certificate.create_pkix_certificate_validator_container(
        serverauth.create_decoding_validators(), serverauth.create_validators(cert_type)
    )
    results = validator.validate(document.root)  # type: ignore[attr-defined]
    results, _ = finding_filter.filter_results(
        serverauth.create_serverauth_finding_filters(cert_type), results
    )
    return str(cert_type), _findings(results)


def write_pem(path: Path, *certs: x509.Certificate) -> Path:
    from lemur.crypto.parsing import certificates_to_pem

    path.write_bytes(certificates_to_pem(list(certs)))
    return path


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=30, check=False
    )
