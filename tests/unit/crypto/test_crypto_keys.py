from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from lemur.crypto.keys import (
    KeySpec,
    PrivateKey,
    generate_private_key,
    key_matches_certificate,
    key_spec_of,
    load_private_key,
    private_key_to_pem,
    public_keys_equal,
)
from lemur.errors import InvalidInput

PASSPHRASE = b"correct horse battery staple"


@pytest.fixture(scope="module")
def keys() -> dict[KeySpec, PrivateKey]:
    return {spec: generate_private_key(spec) for spec in KeySpec}


@pytest.mark.parametrize("spec", list(KeySpec))
def test_generated_key_has_its_spec_and_round_trips_through_pem(
    keys: dict[KeySpec, PrivateKey], spec: KeySpec
) -> None:
    key = keys[spec]
    assert key_spec_of(key.public_key()) is spec

    plain = private_key_to_pem(key)
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert public_keys_equal(load_private_key(plain).public_key(), key.public_key())

    encrypted = private_key_to_pem(key, PASSPHRASE)
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert PASSPHRASE not in encrypted
    loaded = load_private_key(encrypted, PASSPHRASE)
    assert public_keys_equal(loaded.public_key(), key.public_key())


@pytest.mark.parametrize("spec", [KeySpec.RSA_2048, KeySpec.EC_P256, KeySpec.ED25519])
def test_loads_der_and_traditional_formats(keys: dict[KeySpec, PrivateKey], spec: KeySpec) -> None:
    key = keys[spec]
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert public_keys_equal(load_private_key(der).public_key(), key.public_key())
    if spec is not KeySpec.ED25519:  # Ed25519 has no traditional format
        traditional = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        assert b"BEGIN RSA PRIVATE KEY" in traditional or b"BEGIN EC PRIVATE KEY" in traditional
        assert public_keys_equal(load_private_key(traditional).public_key(), key.public_key())


def test_wrong_or_missing_passphrase(keys: dict[KeySpec, PrivateKey]) -> None:
    encrypted = private_key_to_pem(keys[KeySpec.EC_P256], PASSPHRASE)
    with pytest.raises(InvalidInput) as wrong:
        load_private_key(encrypted, b"wrong", field="private_key")
    assert wrong.value.code == "private_key_bad_passphrase"
    assert wrong.value.field == "private_key"
    assert "wrong" not in wrong.value.message
    with pytest.raises(InvalidInput) as missing:
        load_private_key(encrypted)
    assert missing.value.code == "private_key_bad_passphrase"


@pytest.mark.parametrize("data", [b"", b"garbage", b"-----BEGIN PRIVATE KEY-----\nAAAA\n"])
def test_malformed_key_is_rejected(data: bytes) -> None:
    with pytest.raises(InvalidInput) as exc:
        load_private_key(data)
    assert exc.value.code == "invalid_private_key"


def test_unsupported_key_types() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidInput) as exc:
        key_spec_of(weak.public_key(), field="csr")
    assert exc.value.code == "unsupported_key_type"
    assert "RSA-1024" in exc.value.message
    assert exc.value.field == "csr"
    with pytest.raises(InvalidInput) as exc:
        key_spec_of(ec.generate_private_key(ec.SECP521R1()).public_key())
    assert exc.value.code == "unsupported_key_type"

    dsa_key = dsa.generate_private_key(key_size=2048)
    with pytest.raises(InvalidInput) as exc:
        key_spec_of(dsa_key.public_key())
    assert exc.value.code == "unsupported_key_type"
    pem = dsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(InvalidInput) as exc:
        load_private_key(pem)
    assert exc.value.code == "unsupported_key_type"


def test_key_matches_certificate(ec_ca) -> None:  # type: ignore[no-untyped-def]
    assert key_matches_certificate(ec_ca.root_key, ec_ca.root)
    assert not key_matches_certificate(ec_ca.intermediate_key, ec_ca.root)
    assert not public_keys_equal(ec_ca.root_key.public_key(), ec_ca.intermediate_key.public_key())
