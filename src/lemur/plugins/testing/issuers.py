"""Contracts of issuers and their optional capabilities: issuing, revoking, creating
authorities, publishing CRLs."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, ClassVar

import pytest
from cryptography import x509

from lemur.crypto.keys import key_spec_of, public_keys_equal
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import extended_key_usage
from lemur.crypto.revocation import RevocationReason
from lemur.plugins.base import (
    AuthorityCreator,
    Connector,
    CRLPublisher,
    Issuer,
    Poller,
    Revoker,
)
from lemur.plugins.testing.readback import assert_chain_links
from lemur.plugins.values import (
    AuthoritySpec,
    Connection,
    CreatedAuthority,
    CRLRequest,
    IssuanceRequest,
    Issued,
    Pending,
    RevocationRequest,
)


class IssuerContract:
    """Checks an issuer against one request.

    Fixtures to provide: ``issuer`` (an instance) and ``issuance_request`` (an
    :class:`IssuanceRequest` it should accept). A ``Pending`` answer is polled (issuers
    returning one must implement :class:`Poller`) every ``min(retry_after,
    poll_interval_seconds)`` up to ``max_polls`` times.

    ``honours_requested_validity``: set False for CAs that choose the validity themselves
    (ACME); the certificate must then still be valid now and not before it was requested.
    """

    honours_requested_validity: ClassVar[bool] = True
    max_polls: ClassVar[int] = 30
    poll_interval_seconds: ClassVar[float] = 1.0

    @pytest.fixture
    def issuance_result(
        self, issuer: Issuer[Any], issuance_request: IssuanceRequest
    ) -> Issued | Pending:
        return issuer.issue(issuance_request)

    @pytest.fixture
    def issued(
        self,
        issuer: Issuer[Any],
        issuance_result: Issued | Pending,
        issuance_request: IssuanceRequest,
    ) -> Issued:
        result = issuance_result
        for _ in range(self.max_polls):
            if isinstance(result, Issued):
                return result
            assert isinstance(issuer, Poller), "the issuer returned Pending but cannot poll"
            time.sleep(min(result.retry_after.total_seconds(), self.poll_interval_seconds))
            result = issuer.poll(result.external_id, issuance_request)
        assert isinstance(result, Issued), f"still pending after {self.max_polls} polls"
        return result

    def test_result_is_issued_or_a_well_formed_pending(
        self, issuer: Issuer[Any], issuance_result: object
    ) -> None:
        assert isinstance(issuance_result, Issued | Pending)
        if isinstance(issuance_result, Issued):
            return
        assert isinstance(issuance_result.external_id, str)
        assert issuance_result.external_id.strip()
        assert issuance_result.retry_after > dt.timedelta(0)
        assert isinstance(issuer, Poller)

    def test_certifies_the_requested_public_key(
        self, issued: Issued, issuance_request: IssuanceRequest
    ) -> None:
        assert public_keys_equal(issued.certificate.public_key(), issuance_request.public_key)

    def test_names_match_the_request_exactly(
        self, issued: Issued, issuance_request: IssuanceRequest
    ) -> None:
        cert = issued.certificate
        try:
            ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            sans = SubjectAltNames.from_extension(ext)
        except x509.ExtensionNotFound:
            sans = SubjectAltNames()
        wanted = issuance_request.sans
        assert sorted(sans.dns_names) == sorted(wanted.dns_names)
        assert sorted(map(str, sans.ip_addresses)) == sorted(map(str, wanted.ip_addresses))
        assert sorted(sans.emails) == sorted(wanted.emails)
        assert sorted(sans.uris) == sorted(wanted.uris)
        common_names = [
            a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        ]
        expected = [] if issuance_request.common_name is None else [issuance_request.common_name]
        assert common_names == expected

    def test_validity_is_within_the_request(
        self, issued: Issued, issuance_request: IssuanceRequest
    ) -> None:
        cert = issued.certificate
        assert cert.not_valid_before_utc < cert.not_valid_after_utc
        if self.honours_requested_validity:
            assert cert.not_valid_before_utc >= issuance_request.not_before
            assert cert.not_valid_after_utc <= issuance_request.not_after
        else:
            assert cert.not_valid_after_utc > issuance_request.not_before

    def test_is_an_end_entity_for_the_profile(
        self, issued: Issued, issuance_request: IssuanceRequest
    ) -> None:
        cert = issued.certificate
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert not constraints.ca
        usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        assert set(extended_key_usage(issuance_request.profile)) <= usages

    def test_chain_verifies_link_by_link(self, issued: Issued) -> None:
        assert issued.chain, "the issuer returned no chain"
        assert_chain_links([issued.certificate, *issued.chain])

    def test_revoke_accepts_an_issued_certificate(
        self, issuer: Issuer[Any], issued: Issued, issuance_request: IssuanceRequest
    ) -> None:
        if not isinstance(issuer, Revoker):
            pytest.skip("the issuer cannot revoke")
        issuer.revoke(
            RevocationRequest(
                certificate=issued.certificate,
                reason=RevocationReason.KEY_COMPROMISE,
                revoked_at=issuance_request.not_before,
                external_id=issued.external_id,
            )
        )


class AuthorityCreatorContract:
    """Checks ``create_authority``. Fixtures to provide: ``authority_creator`` (an issuer
    implementing :class:`AuthorityCreator`) and ``authority_spec``."""

    @pytest.fixture
    def created(
        self, authority_creator: AuthorityCreator, authority_spec: AuthoritySpec
    ) -> CreatedAuthority:
        return authority_creator.create_authority(authority_spec)

    def test_certificate_matches_the_spec(
        self, created: CreatedAuthority, authority_spec: AuthoritySpec
    ) -> None:
        cert = created.certificate
        assert cert.subject == authority_spec.subject
        assert key_spec_of(cert.public_key()) == authority_spec.key_spec
        assert cert.not_valid_before_utc >= authority_spec.not_before
        assert cert.not_valid_after_utc <= authority_spec.not_after
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert constraints.ca
        assert constraints.path_length == authority_spec.path_length

    def test_private_key_belongs_to_the_certificate(self, created: CreatedAuthority) -> None:
        assert public_keys_equal(created.private_key.public_key(), created.certificate.public_key())

    def test_chain_verifies_link_by_link(
        self, created: CreatedAuthority, authority_spec: AuthoritySpec
    ) -> None:
        if authority_spec.parent is None:
            assert created.chain == ()
            created.certificate.verify_directly_issued_by(created.certificate)
        else:
            assert created.chain[0] == authority_spec.parent.certificate
        assert_chain_links([created.certificate, *created.chain])


class CRLPublisherContract:
    """Checks ``publish_crl``. Fixtures to provide: ``crl_publisher`` (an issuer
    implementing :class:`CRLPublisher`) and ``crl_request`` (a :class:`CRLRequest`, best
    with a few revoked entries of different reasons)."""

    @pytest.fixture
    def published(
        self, crl_publisher: CRLPublisher, crl_request: CRLRequest
    ) -> x509.CertificateRevocationList:
        return crl_publisher.publish_crl(crl_request)

    def test_signed_by_the_authority(
        self, published: x509.CertificateRevocationList, crl_request: CRLRequest
    ) -> None:
        issuer = crl_request.authority.certificate
        assert published.issuer == issuer.subject
        assert published.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]

    def test_number_and_window_are_the_requested_ones(
        self, published: x509.CertificateRevocationList, crl_request: CRLRequest
    ) -> None:
        number = published.extensions.get_extension_for_class(x509.CRLNumber).value
        assert number.crl_number == crl_request.crl_number
        assert published.last_update_utc == crl_request.this_update.replace(microsecond=0)
        assert published.next_update_utc == crl_request.next_update.replace(microsecond=0)

    def test_lists_exactly_the_revoked_entries(
        self, published: x509.CertificateRevocationList, crl_request: CRLRequest
    ) -> None:
        listed = {}
        for entry in published:
            try:
                reason = RevocationReason.from_flag(
                    entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
                )
            except x509.ExtensionNotFound:
                reason = RevocationReason.UNSPECIFIED
            listed[entry.serial_number] = (entry.revocation_date_utc, reason)
        expected = {
            e.serial_number: (
                e.revoked_at.replace(microsecond=0),
                e.reason or RevocationReason.UNSPECIFIED,
            )
            for e in crl_request.revoked
        }
        assert listed == expected


class ConnectorContract:
    """Checks ``connect``. Fixtures to provide: ``connector`` (an issuer implementing
    :class:`Connector`, with working options)."""

    @pytest.fixture
    def connection(self, connector: Connector) -> Connection:
        return connector.connect()

    def test_says_what_it_checked(self, connection: Connection) -> None:
        assert connection.summary.strip()
        assert "\n" not in connection.summary

    def test_chain_is_of_ca_certificates_that_link(self, connection: Connection) -> None:
        for certificate in connection.chain:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
            assert constraints.value.ca
        if len(connection.chain) > 1:
            assert_chain_links(list(connection.chain))

    def test_options_to_store_are_the_plugins_own(
        self, connector: Connector, connection: Connection
    ) -> None:
        if connection.options is not None:
            assert isinstance(connection.options, type(connector).Options)  # type: ignore[attr-defined]

    def test_connecting_again_keeps_working(self, connector: Connector) -> None:
        assert connector.connect().summary.strip()
