"""The local CA: Lemur signs with CA keys it holds (encrypted by the key ring).

Issuance and authority creation are pure functions of the request: the service decrypts the
authority's key, hands it over in ``request.authority`` / ``spec.parent`` for one operation,
and stores what comes back. Serial numbers are random (159 bits from the OS CSPRNG), which
makes a collision within one CA negligible (RFC 5280 §4.1.2.2 asks for uniqueness per CA).
"""

from __future__ import annotations

from cryptography import x509

from lemur.crypto.issuance import build_ca_certificate, build_leaf_certificate
from lemur.crypto.keys import generate_private_key
from lemur.crypto.revocation import build_crl
from lemur.plugins.base import AuthorityCreator, CRLPublisher, Issuer, NoOptions, Revoker
from lemur.plugins.errors import PluginConfigurationError
from lemur.plugins.values import (
    AuthoritySpec,
    CreatedAuthority,
    CRLRequest,
    IssuanceRequest,
    Issued,
    Pending,
    RevocationRequest,
)


class LocalCAIssuer(Issuer[NoOptions], AuthorityCreator, Revoker, CRLPublisher):
    slug = "local-ca"
    title = "Local CA"
    description = (
        "Root and intermediate CAs whose keys Lemur keeps, encrypted by its key ring. "
        "Lemur publishes their CRLs and answers OCSP for them."
    )
    Options = NoOptions

    def issue(self, request: IssuanceRequest) -> Issued | Pending:
        """Sign a leaf with the request's authority; the chain is the authority and its
        issuers up to the root.

        Raises PluginConfigurationError(authority_key_required) without an authority, and
        InvalidInput from :func:`build_leaf_certificate` (validity beyond the CA, names, ...).
        """
        authority = request.authority
        if authority is None:
            raise PluginConfigurationError(
                "the local CA signs only for authorities whose key Lemur holds; "
                "this authority has no key",
                code="authority_key_required",
                field="authority",
            )
        certificate = build_leaf_certificate(
            issuer_cert=authority.certificate,
            issuer_key=authority.private_key,
            public_key=request.public_key,
            subject_cn=request.common_name,
            sans=request.sans,
            not_before=request.not_before,
            not_after=request.not_after,
            profile=request.profile,
            ocsp_url=authority.ocsp_url,
            ca_issuers_url=authority.ca_issuers_url,
            crl_url=authority.crl_url,
            cab_forum=authority.cab_forum,
            subject=request.subject,
            key_usage=request.key_usage,
            extended_key_usage=request.extended_key_usage,
        )
        return Issued(certificate=certificate, chain=(authority.certificate, *authority.chain))

    def create_authority(self, spec: AuthoritySpec) -> CreatedAuthority:
        """A new key of ``spec.key_spec`` and its CA certificate: self-signed when
        ``spec.parent`` is None, else signed by the parent and carrying the parent's CRL,
        OCSP and CA-issuers URLs (RFC 5280 §4.2.1.13, §4.2.2.1) so relying parties can check
        the intermediate's revocation status at its issuer.

        Raises InvalidInput from :func:`build_ca_certificate` (path length exceeded,
        validity beyond the parent, ...)."""
        key = generate_private_key(spec.key_spec)
        parent = spec.parent
        certificate = build_ca_certificate(
            subject=spec.subject,
            public_key=key.public_key(),
            issuer_cert=None if parent is None else parent.certificate,
            issuer_key=key if parent is None else parent.private_key,
            not_before=spec.not_before,
            not_after=spec.not_after,
            path_length=spec.path_length,
            permitted_dns_subtrees=spec.permitted_dns_subtrees,
            excluded_dns_subtrees=spec.excluded_dns_subtrees,
            ocsp_url=None if parent is None else parent.ocsp_url,
            ca_issuers_url=None if parent is None else parent.ca_issuers_url,
            crl_url=None if parent is None else parent.crl_url,
            cab_forum=spec.cab_forum,
        )
        chain = () if parent is None else (parent.certificate, *parent.chain)
        return CreatedAuthority(certificate=certificate, private_key=key, chain=chain)

    def revoke(self, request: RevocationRequest) -> None:
        """Accept the revocation: for a local CA, Lemur itself is the CA. The inventory
        records it, and the CRL (:meth:`publish_crl`) and OCSP answers Lemur signs for this
        authority are built from those records, so there is no second copy of the
        revocation state here that could disagree with them."""

    def publish_crl(self, request: CRLRequest) -> x509.CertificateRevocationList:
        """Sign the CRL with the authority's key (RFC 5280 §5). Raises InvalidInput from
        :func:`build_crl` (a window that ends before it starts, a key that is not the
        certificate's)."""
        return build_crl(
            issuer_cert=request.authority.certificate,
            issuer_key=request.authority.private_key,
            revoked=list(request.revoked),
            this_update=request.this_update,
            next_update=request.next_update,
            crl_number=request.crl_number,
        )
