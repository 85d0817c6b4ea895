from __future__ import annotations

import random

import pytest
from _crypto_support import DAY, NOW, HierarchyCache, ca_name
from cryptography import x509

from lemur.crypto.chain import is_self_signed, order_chain
from lemur.crypto.issuance import build_ca_certificate, build_leaf_certificate
from lemur.crypto.keys import KeySpec, generate_private_key
from lemur.crypto.names import SubjectAltNames
from lemur.errors import InvalidInput


@pytest.fixture(scope="module")
def chain(ec_ca) -> list[x509.Certificate]:  # type: ignore[no-untyped-def]
    """leaf -> intermediate 2 -> intermediate 1 -> root."""
    key = generate_private_key(KeySpec.EC_P256)
    second = build_ca_certificate(
        subject=ca_name("Second level"), public_key=key.public_key(),
        issuer_cert=ec_ca.root, issuer_key=ec_ca.root_key,
        not_before=NOW - DAY, not_after=NOW + 365 * DAY,
    )  # fmt: skip
    third_key = generate_private_key(KeySpec.EC_P256)
    third = build_ca_certificate(
        subject=ca_name("Third level"), public_key=third_key.public_key(),
        issuer_cert=second, issuer_key=key, not_before=NOW - DAY, not_after=NOW + 300 * DAY,
    )  # fmt: skip
    leaf = build_leaf_certificate(
        issuer_cert=third, issuer_key=third_key,
        public_key=generate_private_key(KeySpec.EC_P256).public_key(), subject_cn=None,
        sans=SubjectAltNames.create(dns_names=["api.example.com"]),
        not_before=NOW, not_after=NOW + 30 * DAY,
    )  # fmt: skip
    return [leaf, third, second, ec_ca.root]


def test_shuffled_bag_is_ordered(chain: list[x509.Certificate]) -> None:
    leaf, *others = chain
    rng = random.Random(5280)
    for _ in range(5):
        bag = others + others[:2] + [leaf]  # duplicates and the leaf itself are dropped
        rng.shuffle(bag)
        assert order_chain(leaf, bag) == chain


def test_chain_may_stop_before_the_root(chain: list[x509.Certificate]) -> None:
    assert order_chain(chain[0], [chain[2], chain[1]]) == chain[:3]
    assert order_chain(chain[0], []) == chain[:1]


def test_foreign_certificate_is_reported(
    chain: list[x509.Certificate], hierarchies: HierarchyCache
) -> None:
    foreign = hierarchies.get(KeySpec.EC_P384).intermediate
    with pytest.raises(InvalidInput) as exc:
        order_chain(chain[0], [chain[1], foreign, chain[2]], field="chain")
    assert exc.value.code == "chain_invalid"
    assert exc.value.field == "chain"
    assert "Lemur Test Intermediate ec-p384" in exc.value.message


def test_impostor_with_the_right_name_but_wrong_key(chain: list[x509.Certificate]) -> None:
    impostor_key = generate_private_key(KeySpec.EC_P256)
    impostor = build_ca_certificate(
        subject=chain[1].subject, public_key=impostor_key.public_key(), issuer_cert=None,
        issuer_key=impostor_key, not_before=NOW - DAY, not_after=NOW + 365 * DAY,
    )  # fmt: skip
    with pytest.raises(InvalidInput) as exc:
        order_chain(chain[0], [impostor])
    assert exc.value.code == "chain_invalid"
    assert "does not verify" in exc.value.message


def test_is_self_signed(chain: list[x509.Certificate]) -> None:
    assert is_self_signed(chain[-1])
    assert not any(is_self_signed(c) for c in chain[:-1])
