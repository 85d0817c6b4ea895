from __future__ import annotations

import datetime
import ipaddress

import pytest
from _crypto_support import DAY, NOW
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from lemur.crypto.export import pkcs12_bundle
from lemur.crypto.issuance import build_leaf_certificate
from lemur.crypto.keys import KeySpec, generate_private_key, public_keys_equal
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.parsing import (
    certificate_to_der,
    certificate_to_pem,
    certificates_to_pem,
    der_to_pem,
    load_certificate,
    load_certificates,
    load_csr,
    load_pkcs12,
)
from lemur.errors import InvalidInput


@pytest.fixture(scope="module")
def leaf(ec_ca) -> x509.Certificate:  # type: ignore[no-untyped-def]
    return build_leaf_certificate(
        issuer_cert=ec_ca.intermediate, issuer_key=ec_ca.intermediate_key,
        public_key=generate_private_key(KeySpec.EC_P256).public_key(),
        subject_cn="api.example.com", sans=SubjectAltNames.create(dns_names=["api.example.com"]),
        not_before=NOW, not_after=NOW + 30 * DAY,
    )  # fmt: skip


def _code(data: bytes, loader=load_certificate) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as exc:
        loader(data, field="certificate")
    assert exc.value.field == "certificate"
    return exc.value.code


def test_pem_and_der_load_the_same_certificate(leaf: x509.Certificate) -> None:
    assert load_certificate(certificate_to_pem(leaf)) == leaf
    assert load_certificate(certificate_to_der(leaf)) == leaf
    assert load_certificate(b"\n  " + certificate_to_pem(leaf).replace(b"\n", b"\r\n")) == leaf


def test_der_to_pem_writes_what_cryptography_writes(ec_ca, leaf: x509.Certificate) -> None:  # type: ignore[no-untyped-def]
    # Detail answers encode stored DER without parsing it: byte for byte the same PEM,
    # including a last line shorter than 64 characters and the trailing newline.
    for cert in (leaf, ec_ca.root, ec_ca.intermediate):
        assert der_to_pem(certificate_to_der(cert)) == certificate_to_pem(cert).decode()


def test_bundles(ec_ca, leaf: x509.Certificate) -> None:  # type: ignore[no-untyped-def]
    bundle = certificates_to_pem([leaf, ec_ca.intermediate, ec_ca.root])
    assert load_certificates(b"leading text\n" + bundle) == [leaf, ec_ca.intermediate, ec_ca.root]
    assert load_certificates(certificate_to_der(leaf)) == [leaf]
    with pytest.raises(InvalidInput, match="expected one certificate, found 3"):
        load_certificate(bundle)


def test_malformed_input_gets_clear_errors(leaf: x509.Certificate) -> None:
    pem = certificate_to_pem(leaf)
    der = certificate_to_der(leaf)
    assert _code(b"") == "empty_input"
    assert _code(b"garbage") == "invalid_der"
    assert _code(der[:100]) == "invalid_der"
    assert _code(pem[: len(pem) // 2]) == "invalid_pem"
    with pytest.raises(InvalidInput, match="truncated"):
        load_certificate(pem[: len(pem) // 2])
    with pytest.raises(InvalidInput, match="truncated"):
        load_certificate(der[:-10])
    broken_base64 = pem.replace(pem.splitlines()[3], b"!!!!" + pem.splitlines()[3][4:])
    assert _code(broken_base64) == "invalid_pem"
    # Valid base64 of something that is not a certificate.
    not_cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    assert _code(not_cert) == "invalid_pem"
    key_pem = generate_private_key(KeySpec.EC_P256).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InvalidInput, match="'PRIVATE KEY', expected 'CERTIFICATE'") as exc:
        load_certificates(pem + key_pem)
    assert b"PRIVATE" not in exc.value.message.encode() or "BEGIN" not in exc.value.message


def test_pkcs12_good_and_wrong_passphrase(ec_ca) -> None:  # type: ignore[no-untyped-def]
    data = pkcs12_bundle(
        key=ec_ca.intermediate_key, cert=ec_ca.intermediate, chain=[ec_ca.root],
        passphrase=b"s3cret", friendly_name="intermediate",
    )  # fmt: skip
    contents = load_pkcs12(data, b"s3cret")
    assert contents.key is not None
    assert public_keys_equal(contents.key.public_key(), ec_ca.intermediate.public_key())
    assert contents.certificate == ec_ca.intermediate
    assert contents.additional_certificates == [ec_ca.root]
    _key, cert, _chain = contents  # also usable as a plain tuple
    assert cert == ec_ca.intermediate

    for wrong in (b"wrong", None):
        with pytest.raises(InvalidInput) as exc:
            load_pkcs12(data, wrong, field="pkcs12")
        assert exc.value.code == "pkcs12_bad_passphrase"
        assert "s3cret" not in exc.value.message
        assert "wrong" not in exc.value.message
    with pytest.raises(InvalidInput) as exc:
        load_pkcs12(b"garbage", b"s3cret")
    assert exc.value.code == "invalid_pkcs12"


def test_pkcs12_without_key_pairing_finds_the_keys_certificate(ec_ca) -> None:  # type: ignore[no-untyped-def]
    # Key and certificates stored without a localKeyId pairing them.
    data = pkcs12.serialize_key_and_certificates(
        None, ec_ca.intermediate_key, None, [ec_ca.root, ec_ca.intermediate],
        serialization.BestAvailableEncryption(b"pw"),
    )  # fmt: skip
    contents = load_pkcs12(data, b"pw")
    assert contents.certificate == ec_ca.intermediate
    assert contents.additional_certificates == [ec_ca.root]

    unrelated = pkcs12.serialize_key_and_certificates(
        None, ec_ca.intermediate_key, None, [ec_ca.root],
        serialization.BestAvailableEncryption(b"pw"),
    )  # fmt: skip
    with pytest.raises(InvalidInput) as exc:
        load_pkcs12(unrelated, b"pw")
    assert exc.value.code == "invalid_pkcs12"


def _csr(key, names: list[x509.GeneralName], cn: str | None = "api.example.com"):  # type: ignore[no-untyped-def]
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn else [])
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm)


@pytest.mark.parametrize("spec", [KeySpec.EC_P256, KeySpec.RSA_2048, KeySpec.ED25519])
def test_csr_is_parsed_and_names_normalized(spec: KeySpec) -> None:
    key = generate_private_key(spec)
    csr = _csr(
        key, [x509.DNSName("API.Example.com."), x509.IPAddress(ipaddress.ip_address("192.0.2.7"))]
    )
    for data in (
        csr.public_bytes(serialization.Encoding.PEM),
        csr.public_bytes(serialization.Encoding.DER),
    ):
        info = load_csr(data, field="csr")
        assert info.common_name == "api.example.com"
        assert info.sans.dns_names == ("api.example.com",)
        assert [str(ip) for ip in info.sans.ip_addresses] == ["192.0.2.7"]
        assert info.key_spec is spec
        assert public_keys_equal(info.public_key, key.public_key())


def test_csr_with_tampered_signature() -> None:
    csr = _csr(generate_private_key(KeySpec.EC_P256), [x509.DNSName("api.example.com")])
    der = bytearray(csr.public_bytes(serialization.Encoding.DER))
    signature = csr.signature
    position = bytes(der).rindex(signature) + len(signature) // 2
    der[position] ^= 0x01
    with pytest.raises(InvalidInput) as exc:
        load_csr(bytes(der), field="csr")
    assert exc.value.code == "csr_signature_invalid"
    assert exc.value.field == "csr"


def test_csr_errors() -> None:
    key = generate_private_key(KeySpec.EC_P256)
    assert _code(b"garbage", load_csr) == "invalid_csr"
    cert_pem = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    assert _code(cert_pem, load_csr) == "invalid_csr"
    bad_name = _csr(key, [x509.DNSName("bad_name.example.com")]).public_bytes(
        serialization.Encoding.PEM
    )
    with pytest.raises(InvalidInput) as exc:
        load_csr(bad_name, field="csr")
    assert exc.value.code == "invalid_dns_name"
    assert exc.value.field == "csr.subject_alternative_names.dns_names[0]"
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_csr = _csr(weak, [x509.DNSName("a.example.com")]).public_bytes(serialization.Encoding.DER)
    assert _code(weak_csr, load_csr) == "unsupported_key_type"


def test_times_are_aware_utc(leaf: x509.Certificate) -> None:
    assert leaf.not_valid_before_utc.tzinfo is datetime.UTC
