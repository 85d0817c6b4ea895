from __future__ import annotations

from pathlib import Path

import pytest
from _crypto_support import Hierarchy, openssl
from cryptography.hazmat.primitives.serialization import pkcs12

from lemur.crypto.export import der_certificate, pem_bundle, pkcs12_bundle
from lemur.crypto.keys import load_private_key, public_keys_equal
from lemur.crypto.parsing import load_certificate, load_certificates, pem_blocks
from lemur.errors import InvalidInput


def test_pkcs12_uses_modern_encryption_and_opens_in_openssl(
    ec_ca: Hierarchy, tmp_path: Path
) -> None:
    data = pkcs12_bundle(
        key=ec_ca.intermediate_key, cert=ec_ca.intermediate, chain=[ec_ca.root],
        passphrase=b"export-pass", friendly_name="api.example.com",
    )  # fmt: skip
    loaded = pkcs12.load_pkcs12(data, b"export-pass")
    assert loaded.cert is not None
    assert loaded.cert.friendly_name == b"api.example.com"
    assert loaded.cert.certificate == ec_ca.intermediate
    assert [c.certificate for c in loaded.additional_certs] == [ec_ca.root]

    path = tmp_path / "bundle.p12"
    path.write_bytes(data)
    # OpenSSL 3 without the legacy provider refuses RC2/3DES bundles; this must open.
    result = openssl("pkcs12", "-in", path, "-info", "-noout", "-passin", "pass:export-pass")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "AES-256-CBC" in output, output
    assert "PBKDF2" in output, output
    assert "sha256" in output.lower(), output


def test_pkcs12_requires_passphrase_and_matching_key(ec_ca: Hierarchy) -> None:
    with pytest.raises(InvalidInput) as exc:
        pkcs12_bundle(key=ec_ca.intermediate_key, cert=ec_ca.intermediate, chain=[], passphrase=b"")
    assert exc.value.code == "passphrase_required"
    with pytest.raises(InvalidInput) as exc:
        pkcs12_bundle(key=ec_ca.root_key, cert=ec_ca.intermediate, chain=[], passphrase=b"x")
    assert exc.value.code == "key_mismatch"


def test_pem_bundle_order_and_key(ec_ca: Hierarchy) -> None:
    text = pem_bundle(ec_ca.intermediate, [ec_ca.root])
    assert load_certificates(text) == [ec_ca.intermediate, ec_ca.root]

    with_key = pem_bundle(ec_ca.intermediate, [ec_ca.root], ec_ca.intermediate_key)
    assert [b.label for b in pem_blocks(with_key)] == ["CERTIFICATE", "CERTIFICATE", "PRIVATE KEY"]
    key_pem = with_key[with_key.index(b"-----BEGIN PRIVATE KEY") :]
    assert public_keys_equal(
        load_private_key(key_pem).public_key(), ec_ca.intermediate.public_key()
    )

    encrypted = pem_bundle(ec_ca.intermediate, [], ec_ca.intermediate_key, key_passphrase=b"pw")
    assert b"ENCRYPTED PRIVATE KEY" in encrypted
    with pytest.raises(InvalidInput) as exc:
        pem_bundle(ec_ca.intermediate, [], ec_ca.root_key)
    assert exc.value.code == "key_mismatch"


def test_der_certificate(ec_ca: Hierarchy) -> None:
    der = der_certificate(ec_ca.root)
    assert der[0] == 0x30
    assert load_certificate(der) == ec_ca.root
