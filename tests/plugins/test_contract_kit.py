"""The contract kit catches the mistakes it is for (and passes a correct third-party plugin)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from cryptography import x509
from pydantic import BaseModel

from lemur.builtin.exporters import PEMBundleExporter, PKCS8KeyExporter
from lemur.builtin.local_ca import LocalCAIssuer
from lemur.crypto.keys import KeySpec, generate_private_key, private_key_to_pem
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.revocation import RevocationReason, RevokedEntry
from lemur.plugins.base import Issuer, NoOptions, Plugin
from lemur.plugins.testing import (
    CRLPublisherContract,
    ExporterContract,
    IssuerContract,
    PluginClassContract,
    read_back,
)
from lemur.plugins.values import Bundle, CRLRequest, Exported, IssuanceRequest, Issued, Pending
from tests.plugins.conftest import CA, DAY, NOW, PASSPHRASE, leaf_request, make_context
from tests.plugins.sample_plugins import VaultDestination


class TestThirdPartyStylePluginPassesTheClassContract(PluginClassContract):
    test_registered_as_entry_point = None  # a test-only plugin: not installed as a package

    @pytest.fixture
    def plugin_class(self) -> type[Plugin[Any]]:
        return VaultDestination

    @pytest.fixture
    def plugin_options(self) -> dict[str, Any]:
        return {
            "url": "https://vault.example.com",
            "auth": {"username": "u", "token": "tok-plain"},
            "client_key": "key-plain",
            "backup_tokens": ["b-plain"],
        }


class PlainPasswordOptions(BaseModel):
    username: str
    api_password: str  # should be SecretStr


class PlainPasswordIssuer(LocalCAIssuer):
    slug = "plain-password"
    Options = PlainPasswordOptions  # type: ignore[assignment]


def test_class_contract_flags_a_secret_that_is_not_secret_str() -> None:
    with pytest.raises(AssertionError, match="api_password"):
        PluginClassContract().test_secret_fields_are_write_only(PlainPasswordIssuer)


def test_class_contract_flags_a_missing_entry_point() -> None:
    with pytest.raises(AssertionError, match="no entry point 'plain-password'"):
        PluginClassContract().test_registered_as_entry_point(PlainPasswordIssuer)


class ExtraNameIssuer(LocalCAIssuer):
    """Adds a name nobody asked for."""

    slug = "extra-name"

    def issue(self, request: IssuanceRequest) -> Issued | Pending:
        extra = SubjectAltNames.create(dns_names=(*request.sans.dns_names, "evil.example.net"))
        return super().issue(replace(request, sans=extra))


class NoChainIssuer(LocalCAIssuer):
    slug = "no-chain"

    def issue(self, request: IssuanceRequest) -> Issued | Pending:
        result = super().issue(request)
        assert isinstance(result, Issued)
        return replace(result, chain=result.chain[::-1])


class OtherKeyIssuer(LocalCAIssuer):
    slug = "other-key"

    def issue(self, request: IssuanceRequest) -> Issued | Pending:
        other = generate_private_key(KeySpec.EC_P256).public_key()
        return super().issue(replace(request, public_key=other))


def _issued(issuer: Issuer[Any], request: IssuanceRequest) -> Issued:
    result = issuer.issue(request)
    assert isinstance(result, Issued)
    return result


def test_issuer_contract_flags_extra_names_reversed_chains_and_wrong_keys(ca: CA) -> None:
    contract = IssuerContract()
    request = leaf_request(ca.intermediate, key=generate_private_key(KeySpec.EC_P256))
    good = _issued(LocalCAIssuer(NoOptions(), make_context()), request)
    contract.test_names_match_the_request_exactly(good, request)
    contract.test_chain_verifies_link_by_link(good)
    contract.test_certifies_the_requested_public_key(good, request)

    with pytest.raises(AssertionError):
        contract.test_names_match_the_request_exactly(
            _issued(ExtraNameIssuer(NoOptions(), make_context()), request), request
        )
    with pytest.raises(AssertionError, match="is not signed by the next certificate"):
        contract.test_chain_verifies_link_by_link(
            _issued(NoChainIssuer(NoOptions(), make_context()), request)
        )
    with pytest.raises(AssertionError):
        contract.test_certifies_the_requested_public_key(
            _issued(OtherKeyIssuer(NoOptions(), make_context()), request), request
        )
    contract.test_validity_is_within_the_request(good, request)
    shorter = replace(request, not_after=request.not_after - DAY)
    with pytest.raises(AssertionError):
        contract.test_validity_is_within_the_request(good, shorter)


class LeakyKeyExporter(PKCS8KeyExporter):
    """Ignores the passphrase and, worse, writes it into the file."""

    slug = "leaky-key"

    def export(self, bundle: Bundle, *, passphrase: bytes | None) -> Exported:
        assert bundle.private_key is not None
        content = private_key_to_pem(bundle.private_key) + b"# passphrase: " + (passphrase or b"")
        return Exported(content, "application/x-pem-file", "key.pem", contains_private_key=True)


class KeylessSilentExporter(PKCS8KeyExporter):
    """Exports an empty file instead of refusing a bundle without a key."""

    slug = "keyless-silent"

    def export(self, bundle: Bundle, *, passphrase: bytes | None) -> Exported:
        if bundle.private_key is None:
            return Exported(b"", "application/x-pem-file", "key.pem", contains_private_key=True)
        return super().export(bundle, passphrase=passphrase)


def test_exporter_contract_flags_a_leaked_passphrase_and_an_unencrypted_key(
    full_bundle: Bundle,
) -> None:
    exporter = LeakyKeyExporter(NoOptions(), make_context())
    exported = exporter.export(full_bundle, passphrase=PASSPHRASE)
    with pytest.raises(AssertionError):
        ExporterContract().test_passphrase_never_in_clear(
            exporter, exported, full_bundle, PASSPHRASE
        )


def test_exporter_contract_flags_a_key_exporter_that_does_not_refuse(full_bundle: Bundle) -> None:
    exporter = KeylessSilentExporter(NoOptions(), make_context())
    with pytest.raises(pytest.fail.Exception):
        ExporterContract().test_bundle_without_key(exporter, full_bundle, PASSPHRASE)


def test_exporter_contract_flags_missing_certificates(full_bundle: Bundle) -> None:
    exporter = PEMBundleExporter(NoOptions(), make_context())
    exported = exporter.export(replace(full_bundle, chain=full_bundle.chain[:1]), passphrase=None)
    with pytest.raises(AssertionError):
        ExporterContract().test_output_reads_back_as_the_same_certificates(
            exporter, exported, full_bundle, PASSPHRASE
        )


def test_read_back_refuses_garbage() -> None:
    with pytest.raises(AssertionError, match="not PEM, DER"):
        read_back(b"\x30\x03garbage", None)
    with pytest.raises(AssertionError, match="no complete PEM block"):
        read_back(b"-----BEGIN CERTIFICATE-----\nMIIB", None)


class ForgetfulCRLPublisher(LocalCAIssuer):
    """Leaves the first revoked certificate off its CRL and numbers it wrong."""

    slug = "forgetful-crl"

    def publish_crl(self, request: CRLRequest) -> x509.CertificateRevocationList:
        return super().publish_crl(
            replace(request, revoked=request.revoked[1:], crl_number=request.crl_number + 1)
        )


def test_crl_publisher_contract_flags_a_missing_entry_and_a_wrong_number(ca: CA) -> None:
    request = CRLRequest(
        authority=ca.intermediate,
        revoked=(
            RevokedEntry(0x1234, NOW - DAY, RevocationReason.KEY_COMPROMISE),
            RevokedEntry(0x5678, NOW - DAY, RevocationReason.SUPERSEDED),
        ),
        crl_number=3,
        this_update=NOW,
        next_update=NOW + 3 * DAY,
    )
    kit = CRLPublisherContract()
    good = LocalCAIssuer(NoOptions(), make_context()).publish_crl(request)
    kit.test_lists_exactly_the_revoked_entries(good, request)
    kit.test_number_and_window_are_the_requested_ones(good, request)
    kit.test_signed_by_the_authority(good, request)
    bad = ForgetfulCRLPublisher(NoOptions(), make_context()).publish_crl(request)
    with pytest.raises(AssertionError):
        kit.test_lists_exactly_the_revoked_entries(bad, request)
    with pytest.raises(AssertionError):
        kit.test_number_and_window_are_the_requested_ones(bad, request)
    # Signed by another CA's key: the signature check fails.
    other = replace(request, authority=ca.root)
    with pytest.raises(AssertionError):
        kit.test_signed_by_the_authority(good, other)
