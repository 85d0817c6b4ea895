"""Built-in exporters: exact content, file names and media types, and refusals."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from lemur.builtin.exporters import (
    DERCertificateExporter,
    PEMBundleExporter,
    PEMCertificateExporter,
    PEMChainExporter,
    PKCS7BundleExporter,
    PKCS8KeyExporter,
    PKCS12Exporter,
)
from lemur.crypto.keys import KeySpec, generate_private_key, public_keys_equal
from lemur.errors import InvalidInput
from lemur.plugins.base import Exporter, NoOptions
from lemur.plugins.errors import PluginRejected
from lemur.plugins.values import Bundle
from tests.plugins.conftest import CA, PASSPHRASE, make_context


def make(cls: type[Exporter[Any]]) -> Exporter[Any]:
    return cls(NoOptions(), make_context())


@pytest.mark.parametrize(
    ("cls", "media_type", "filename", "has_key"),
    [
        (PEMCertificateExporter, "application/x-pem-file", "www.example.com.pem", False),
        (PEMChainExporter, "application/pem-certificate-chain", "www.example.com-chain.pem", False),
        (
            PEMBundleExporter,
            "application/pem-certificate-chain",
            "www.example.com-fullchain.pem",
            False,
        ),
        (DERCertificateExporter, "application/pkix-cert", "www.example.com.der", False),
        (PKCS7BundleExporter, "application/x-pkcs7-certificates", "www.example.com.p7b", False),
        (PKCS8KeyExporter, "application/x-pem-file", "www.example.com.key", True),
        (PKCS12Exporter, "application/pkcs12", "www.example.com.p12", True),
    ],
)
def test_media_type_filename_and_key_flag(
    full_bundle: Bundle, cls: type[Exporter[Any]], media_type: str, filename: str, has_key: bool
) -> None:
    exported = make(cls).export(full_bundle, passphrase=PASSPHRASE)
    assert (exported.media_type, exported.filename, exported.contains_private_key) == (
        media_type,
        filename,
        has_key,
    )


@pytest.mark.parametrize(
    ("name", "filename"),
    [
        ("*.example.com", "wildcard.example.com.pem"),
        ("../../etc/passwd", "etc_passwd.pem"),
        ("a b/c\\d", "a_b_c_d.pem"),
        ("...", "certificate.pem"),
        ("", "certificate.pem"),
    ],
)
def test_file_names_are_safe(full_bundle: Bundle, name: str, filename: str) -> None:
    exported = make(PEMCertificateExporter).export(replace(full_bundle, name=name), passphrase=None)
    assert exported.filename == filename


def test_pem_certificate_chain_and_bundle_order(ca: CA, full_bundle: Bundle) -> None:
    leaf, intermediate, root = (
        full_bundle.certificate,
        ca.intermediate.certificate,
        ca.root.certificate,
    )
    cert = make(PEMCertificateExporter).export(full_bundle, passphrase=None).content
    chain = make(PEMChainExporter).export(full_bundle, passphrase=None).content
    full = make(PEMBundleExporter).export(full_bundle, passphrase=None).content
    assert x509.load_pem_x509_certificates(cert) == [leaf]
    assert x509.load_pem_x509_certificates(chain) == [intermediate, root]
    assert x509.load_pem_x509_certificates(full) == [leaf, intermediate, root]
    assert full == cert + chain
    for content in (cert, chain, full):
        assert b"PRIVATE KEY" not in content


def test_der_certificate(full_bundle: Bundle) -> None:
    content = make(DERCertificateExporter).export(full_bundle, passphrase=None).content
    assert x509.load_der_x509_certificate(content) == full_bundle.certificate


def test_pkcs7_bundle_holds_certificate_and_chain(full_bundle: Bundle) -> None:
    content = make(PKCS7BundleExporter).export(full_bundle, passphrase=None).content
    certs = pkcs7.load_der_pkcs7_certificates(content)
    assert sorted(c.serial_number for c in certs) == sorted(
        c.serial_number for c in (full_bundle.certificate, *full_bundle.chain)
    )


def test_pem_chain_of_a_certificate_without_chain_is_refused(full_bundle: Bundle) -> None:
    with pytest.raises(PluginRejected) as caught:
        make(PEMChainExporter).export(replace(full_bundle, chain=()), passphrase=None)
    assert (caught.value.code, caught.value.status) == ("no_chain", 422)


def test_pkcs8_key_unencrypted_without_passphrase(full_bundle: Bundle) -> None:
    content = make(PKCS8KeyExporter).export(full_bundle, passphrase=None).content
    assert content.startswith(b"-----BEGIN PRIVATE KEY-----")
    key = serialization.load_pem_private_key(content, password=None)
    assert full_bundle.private_key is not None
    assert public_keys_equal(key.public_key(), full_bundle.private_key.public_key())


def test_pkcs8_key_encrypted_with_passphrase(full_bundle: Bundle) -> None:
    content = make(PKCS8KeyExporter).export(full_bundle, passphrase=PASSPHRASE).content
    assert content.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(content, password=None)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(content, password=b"wrong passphrase")
    key = serialization.load_pem_private_key(content, password=PASSPHRASE)
    assert full_bundle.private_key is not None
    assert public_keys_equal(key.public_key(), full_bundle.private_key.public_key())


def test_pkcs12_opens_only_with_its_passphrase(full_bundle: Bundle) -> None:
    content = make(PKCS12Exporter).export(full_bundle, passphrase=PASSPHRASE).content
    with pytest.raises(ValueError):
        pkcs12.load_pkcs12(content, b"wrong passphrase")
    loaded = pkcs12.load_pkcs12(content, PASSPHRASE)
    assert loaded.cert is not None
    assert loaded.cert.certificate == full_bundle.certificate
    assert loaded.cert.friendly_name == b"www.example.com"
    assert [c.certificate for c in loaded.additional_certs] == list(full_bundle.chain)
    assert loaded.key is not None
    assert full_bundle.private_key is not None
    assert public_keys_equal(loaded.key.public_key(), full_bundle.private_key.public_key())


@pytest.mark.parametrize("cls", [PKCS8KeyExporter, PKCS12Exporter])
def test_key_exports_need_the_key(full_bundle: Bundle, cls: type[Exporter[Any]]) -> None:
    with pytest.raises(PluginRejected) as caught:
        make(cls).export(replace(full_bundle, private_key=None), passphrase=PASSPHRASE)
    assert caught.value.code == "no_private_key"


@pytest.mark.parametrize("cls", [PKCS8KeyExporter, PKCS12Exporter])
def test_key_exports_refuse_a_key_of_another_certificate(
    full_bundle: Bundle, cls: type[Exporter[Any]]
) -> None:
    other = replace(full_bundle, private_key=generate_private_key(KeySpec.EC_P256))
    with pytest.raises(InvalidInput) as caught:
        make(cls).export(other, passphrase=PASSPHRASE)
    assert (caught.value.code, caught.value.field) == ("key_mismatch", "private_key")


@pytest.mark.parametrize(
    ("cls", "passphrase", "code"),
    [
        (PKCS12Exporter, None, "passphrase_required"),
        (PKCS12Exporter, b"", "passphrase_required"),
        (PKCS8KeyExporter, b"", "passphrase_required"),
        (PKCS12Exporter, b"p" * 1024, "passphrase_too_long"),
        (PKCS8KeyExporter, b"p" * 1024, "passphrase_too_long"),
    ],
)
def test_bad_passphrases(
    full_bundle: Bundle, cls: type[Exporter[Any]], passphrase: bytes | None, code: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        make(cls).export(full_bundle, passphrase=passphrase)
    err = caught.value
    assert (err.code, err.field, err.status) == (code, "passphrase", 422)
    if passphrase:
        assert passphrase.decode() not in err.message


def test_longest_allowed_passphrase_works(full_bundle: Bundle) -> None:
    passphrase = b"q" * 1023
    content = make(PKCS12Exporter).export(full_bundle, passphrase=passphrase).content
    assert pkcs12.load_pkcs12(content, passphrase).key is not None


def test_passphrase_never_appears_in_any_error_message(full_bundle: Bundle) -> None:
    secret = b"do-not-echo-this-passphrase"
    attempts = [
        (PKCS12Exporter, replace(full_bundle, private_key=None)),
        (PKCS8KeyExporter, replace(full_bundle, private_key=None)),
        (PKCS12Exporter, replace(full_bundle, private_key=generate_private_key(KeySpec.EC_P256))),
        (PEMChainExporter, replace(full_bundle, chain=())),
    ]
    for cls, bundle in attempts:
        with pytest.raises((InvalidInput, PluginRejected)) as caught:
            make(cls).export(bundle, passphrase=secret)
        assert "do-not-echo" not in str(caught.value)
        assert "do-not-echo" not in repr(caught.value.to_dict())
