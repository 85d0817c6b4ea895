from __future__ import annotations

import datetime
import time
from pathlib import Path

from _crypto_support import CRL_BASE, DAY, NOW, OCSP_URL, HierarchyCache, openssl, write_pem
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from lemur.crypto.inspection import describe_certificate
from lemur.crypto.issuance import build_leaf_certificate
from lemur.crypto.keys import KeySpec, generate_private_key
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import Profile


def _leaf(hierarchies: HierarchyCache, spec: KeySpec = KeySpec.RSA_2048) -> x509.Certificate:
    h = hierarchies.get(spec)
    return build_leaf_certificate(
        issuer_cert=h.intermediate, issuer_key=h.intermediate_key,
        public_key=generate_private_key(spec).public_key(), subject_cn="api.example.com",
        sans=SubjectAltNames.create(dns_names=["api.example.com"], ip_addresses=["192.0.2.1"]),
        profile=Profile.SERVER_CLIENT, not_before=NOW, not_after=NOW + 90 * DAY,
        ocsp_url=OCSP_URL, crl_url=CRL_BASE + "i.crl",
    )  # fmt: skip


def test_describe_leaf(hierarchies: HierarchyCache, tmp_path: Path) -> None:
    leaf = _leaf(hierarchies)
    d = describe_certificate(leaf)
    assert d.subject == "CN=api.example.com"
    assert d.common_name == "api.example.com"
    assert d.issuer_common_name == "Lemur Test Intermediate rsa-2048"
    assert d.issuer == "CN=Lemur Test Intermediate rsa-2048,O=Lemur Test PKI,C=US"
    assert d.sans.all_names() == ("api.example.com", "192.0.2.1")
    assert d.not_valid_before == NOW
    assert d.not_valid_before.tzinfo == datetime.UTC
    assert d.not_valid_after == NOW + 90 * DAY
    assert int(d.serial_hex, 16) == d.serial_number == leaf.serial_number
    assert d.serial_hex == d.serial_hex.lower()
    assert ":" not in d.serial_hex
    assert (d.key_spec, d.key_type, d.key_size) == (KeySpec.RSA_2048, "RSA", 2048)
    assert d.signature_algorithm == "sha256WithRSAEncryption"
    assert not d.is_ca
    assert d.path_length is None
    assert d.key_usage == ("digital_signature", "key_encipherment")
    assert d.extended_key_usage == ("serverAuth", "clientAuth")
    by_name = {e.name: e for e in d.extensions}
    assert by_name["basicConstraints"].critical
    assert by_name["basicConstraints"].value == "CA:FALSE"
    assert by_name["subjectAltName"].value == "DNS:api.example.com, IP:192.0.2.1"
    assert by_name["authorityInfoAccess"].value == f"OCSP: URI:{OCSP_URL}"
    assert by_name["cRLDistributionPoints"].value == f"URI:{CRL_BASE}i.crl"
    assert by_name["keyUsage"].oid == "2.5.29.15"

    # Fingerprints agree with openssl's.
    pem = write_pem(tmp_path / "leaf.pem", leaf)
    for algorithm, value in (("-sha256", d.sha256_fingerprint), ("-sha1", d.sha1_fingerprint)):
        out = openssl("x509", "-in", pem, "-noout", "-fingerprint", algorithm).stdout
        assert out.strip().split("=", 1)[1].replace(":", "").lower() == value


def test_describe_ca_and_other_keys(hierarchies: HierarchyCache) -> None:
    h = hierarchies.get(KeySpec.EC_P384)
    d = describe_certificate(h.intermediate)
    assert d.is_ca
    assert d.path_length == 0
    assert (d.key_spec, d.key_type, d.key_size) == (KeySpec.EC_P384, "EC", 384)
    assert d.signature_algorithm == "ecdsa-with-SHA384"
    assert d.key_usage == ("digital_signature", "key_cert_sign", "crl_sign")
    ed = describe_certificate(hierarchies.get(KeySpec.ED25519).root)
    assert (ed.key_spec, ed.key_type, ed.signature_algorithm) == (
        KeySpec.ED25519,
        "Ed25519",
        "ed25519",
    )


def test_unsupported_key_is_described_without_spec() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "legacy")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(weak.public_key()).serial_number(1)
        .not_valid_before(NOW).not_valid_after(NOW + DAY)
        .add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.2.3.4"), b"\x05\x00"), critical=False)
        .sign(weak, hashes.SHA256())
    )  # fmt: skip
    d = describe_certificate(cert)
    assert (d.key_spec, d.key_type, d.key_size) == (None, "RSA", 1024)
    assert d.extensions[0].oid == d.extensions[0].name == "1.2.3.4"
    assert d.extensions[0].value == "0500"


def test_describe_is_cheap(hierarchies: HierarchyCache) -> None:
    leaf = _leaf(hierarchies, KeySpec.EC_P256)
    start = time.perf_counter()
    for _ in range(500):
        describe_certificate(leaf)
    assert (time.perf_counter() - start) / 500 < 0.002
