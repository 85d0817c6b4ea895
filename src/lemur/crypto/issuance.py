"""Building and signing CA and leaf certificates (RFC 5280 §4.1, CA/B Forum BR §7.1).

Callers pass every input explicitly: times (aware, UTC), URLs, serial numbers. With
``cab_forum=True`` the certificate is checked against the TLS Baseline Requirements before
signing, so a non-compliant certificate is never produced.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lemur.crypto.choices import check_leaf_choices
from lemur.crypto.keys import PrivateKey, PublicKey, key_spec_of, public_keys_equal
from lemur.crypto.names import SubjectAltNames, normalize_dns_name
from lemur.crypto.profiles import (
    BR_DOMAIN_VALIDATED,
    ROOT_MAX_VALIDITY_DAYS,
    ROOT_MIN_VALIDITY_DAYS,
    Profile,
    authority_key_identifier,
    aware_utc,
    ca_key_usage,
    check_cab_forum_ca_subject,
    check_cab_forum_key,
    check_cab_forum_leaf,
    check_cab_forum_urls,
    leaf_common_name,
    leaf_key_usage,
    revocation_extensions,
    signature_hash,
    validity_period,
)
from lemur.crypto.profiles import extended_key_usage as extended_key_usage_for
from lemur.crypto.subjects import BR_ORGANIZATION_VALIDATED, NO_SUBJECT, LeafSubject, SubjectField
from lemur.crypto.usages import (
    ExtendedKeyUsageName,
    KeyUsageName,
    extended_key_usage_extension,
    key_usage_extension,
)
from lemur.errors import InvalidInput

_MAX_SERIAL = 2 ** (20 * 8 - 1) - 1  # RFC 5280 §4.1.2.2: positive, at most 20 octets


def _check_validity(
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    issuer_cert: x509.Certificate | None,
) -> tuple[datetime.datetime, datetime.datetime]:
    start, end = aware_utc(not_before, "not_before"), aware_utc(not_after, "not_after")
    if end <= start:
        raise InvalidInput(
            "not_after must be later than not_before", code="invalid_validity", field="not_after"
        )
    if issuer_cert is not None:
        # RFC 5280 §6.1.3 does not forbid it, but a certificate outliving its issuer would
        # fail path validation at the issuer's expiry; refuse rather than surprise.
        if end > issuer_cert.not_valid_after_utc:
            raise InvalidInput(
                f"not_after {end.isoformat()} is after the issuer expires "
                f"({issuer_cert.not_valid_after_utc.isoformat()})",
                code="validity_exceeds_issuer",
                field="not_after",
            )
        if start < issuer_cert.not_valid_before_utc:
            raise InvalidInput(
                f"not_before {start.isoformat()} is before the issuer is valid "
                f"({issuer_cert.not_valid_before_utc.isoformat()})",
                code="validity_exceeds_issuer",
                field="not_before",
            )
    return start, end


def _serial(serial: int | None) -> int:
    if serial is None:
        return x509.random_serial_number()
    if not 0 < serial <= _MAX_SERIAL:
        raise InvalidInput(
            "serial numbers are positive and at most 20 octets", code="invalid_serial"
        )
    return serial


def _check_issuer(issuer_cert: x509.Certificate, issuer_key: PrivateKey) -> x509.BasicConstraints:
    if not public_keys_equal(issuer_key.public_key(), issuer_cert.public_key()):
        raise InvalidInput(
            "the issuer key does not match the issuer certificate",
            code="key_mismatch",
            field="issuer_key",
        )
    try:
        constraints = issuer_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = x509.BasicConstraints(ca=False, path_length=None)
    if not constraints.ca:
        raise InvalidInput(
            "the issuer certificate is not a CA (basicConstraints cA is not set)",
            code="issuer_not_ca",
            field="issuer_cert",
        )
    return constraints


def _sign(builder: x509.CertificateBuilder, issuer_key: PrivateKey) -> x509.Certificate:
    return builder.sign(issuer_key, signature_hash(issuer_key))


def _name_constraints(
    permitted: Sequence[str] | None, excluded: Sequence[str] | None, *, cab_forum: bool
) -> x509.NameConstraints | None:
    if not permitted and not excluded:
        return None
    if cab_forum:
        # BR §7.1.2.5.2 technically constrained TLS CAs must also constrain directoryName to
        # the subscriber organisation (so DV leaves could not chain) and all IP ranges; Lemur
        # does not build such CAs.
        raise InvalidInput(
            "name constraints are not supported for publicly trusted (cab_forum) CAs",
            code="invalid_name_constraints",
            field="permitted_dns_subtrees",
        )
    permitted_names: list[x509.GeneralName] = [
        x509.DNSName(
            normalize_dns_name(n, field=f"permitted_dns_subtrees[{i}]", allow_wildcard=False)
        )
        for i, n in enumerate(permitted or ())
    ]
    excluded_names: list[x509.GeneralName] = [
        x509.DNSName(
            normalize_dns_name(n, field=f"excluded_dns_subtrees[{i}]", allow_wildcard=False)
        )
        for i, n in enumerate(excluded or ())
    ]
    return x509.NameConstraints(
        permitted_subtrees=permitted_names or None, excluded_subtrees=excluded_names or None
    )


def build_ca_certificate(
    *,
    subject: x509.Name,
    public_key: PublicKey,
    issuer_cert: x509.Certificate | None,
    issuer_key: PrivateKey,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    path_length: int | None = None,
    permitted_dns_subtrees: Sequence[str] | None = None,
    excluded_dns_subtrees: Sequence[str] | None = None,
    serial: int | None = None,
    ocsp_url: str | None = None,
    ca_issuers_url: str | None = None,
    crl_url: str | None = None,
    cab_forum: bool = False,
) -> x509.Certificate:
    """Build a root (``issuer_cert=None``: self-signed with ``issuer_key``) or an intermediate.

    With ``cab_forum`` an intermediate is a TLS subordinate CA (BR §7.1.2.6): EKU serverAuth,
    the BR domain-validated policy, and a CRL URL required. Raises InvalidInput
    (``key_mismatch``, ``issuer_not_ca``, ``path_length_exceeded``, ``validity_exceeds_issuer``,
    ``invalid_validity``, ``unsupported_key_type``, ``invalid_subject``, ``crl_url_required``).
    """
    key_spec_of(public_key, field="public_key")
    start, end = _check_validity(not_before, not_after, issuer_cert)
    if path_length is not None and path_length < 0:
        raise InvalidInput(
            "path_length must be >= 0", code="invalid_path_length", field="path_length"
        )
    if cab_forum:
        check_cab_forum_key(public_key, field="public_key")
        check_cab_forum_key(issuer_key.public_key(), field="issuer_key")
        check_cab_forum_ca_subject(subject)
        check_cab_forum_urls(ocsp_url, ca_issuers_url, crl_url)

    if issuer_cert is None:
        if not public_keys_equal(issuer_key.public_key(), public_key):
            raise InvalidInput(
                "a root is self-signed: issuer_key must be the private key of public_key",
                code="key_mismatch",
                field="issuer_key",
            )
        issuer_name = subject
        aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            x509.SubjectKeyIdentifier.from_public_key(public_key)
        )
        if cab_forum and not (
            ROOT_MIN_VALIDITY_DAYS
            <= validity_period(start, end) / datetime.timedelta(days=1)
            <= ROOT_MAX_VALIDITY_DAYS
        ):
            raise InvalidInput(
                f"a publicly trusted root is valid for {ROOT_MIN_VALIDITY_DAYS} to "
                f"{ROOT_MAX_VALIDITY_DAYS} days (CA/B Forum BR §6.3.2)",
                code="invalid_validity",
                field="not_after",
            )
    else:
        constraints = _check_issuer(issuer_cert, issuer_key)
        if constraints.path_length is not None and (
            constraints.path_length == 0
            or (path_length is not None and path_length >= constraints.path_length)
        ):
            raise InvalidInput(
                f"the issuer allows {constraints.path_length} CA certificate(s) below it "
                "(basicConstraints pathLenConstraint)",
                code="path_length_exceeded",
                field="path_length",
            )
        if cab_forum and not crl_url:
            raise InvalidInput(
                "a publicly trusted subordinate CA needs a CRL URL (CA/B Forum BR §7.1.2.10.2)",
                code="crl_url_required",
                field="crl_url",
            )
        issuer_name = issuer_cert.subject
        aki = authority_key_identifier(issuer_cert)

    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(_serial(serial))
        .not_valid_before(start)
        .not_valid_after(end)
        # RFC 5280 §4.2.1.9 / §4.2.1.3: both MUST be critical in CA certificates.
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(aki, critical=False)
    )
    if issuer_cert is not None:
        if cab_forum:
            # BR §7.1.2.10.6 requires an EKU in TLS subordinate CAs; §7.1.2.10.5 a policy.
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            ).add_extension(
                x509.CertificatePolicies([x509.PolicyInformation(BR_DOMAIN_VALIDATED, None)]),
                critical=False,
            )
        for extension in revocation_extensions(
            ocsp_url=ocsp_url, ca_issuers_url=ca_issuers_url, crl_url=crl_url
        ):
            builder = builder.add_extension(extension, critical=False)
    constraints_ext = _name_constraints(
        permitted_dns_subtrees, excluded_dns_subtrees, cab_forum=cab_forum
    )
    if constraints_ext is not None:
        # RFC 5280 §4.2.1.10: conforming CAs MUST mark this extension as critical.
        builder = builder.add_extension(constraints_ext, critical=True)
    return _sign(builder, issuer_key)


def build_leaf_certificate(
    *,
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    public_key: PublicKey,
    subject_cn: str | None,
    sans: SubjectAltNames,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    profile: Profile = Profile.SERVER,
    serial: int | None = None,
    ocsp_url: str | None = None,
    ca_issuers_url: str | None = None,
    crl_url: str | None = None,
    cab_forum: bool = False,
    subject: LeafSubject = NO_SUBJECT,
    key_usage: Sequence[KeyUsageName] | None = None,
    extended_key_usage: Sequence[ExtendedKeyUsageName] | None = None,
) -> x509.Certificate:
    """Build and sign an end-entity certificate for ``public_key``.

    ``sans`` should come from :meth:`SubjectAltNames.create`. The subject is ``subject``'s
    attributes followed by the CN; when that is empty the SAN extension is critical (RFC 5280
    §4.2.1.6). ``key_usage`` and ``extended_key_usage`` are put in as given; None means the
    defaults (:func:`leaf_key_usage` for the key, the profile's purposes). Under
    ``cab_forum`` a certificate with an organization is organization validated (BR
    §7.1.2.7.4), else domain validated. Raises InvalidInput (``validity_exceeds_issuer``,
    ``invalid_validity``, ``key_mismatch``, ``issuer_not_ca``, ``unsupported_key_type``,
    ``sans_required``, ``common_name_not_in_sans``, ``key_usage_not_allowed`` and the other
    codes of :func:`check_leaf_choices`, and the BR checks' codes under ``cab_forum``).
    """
    key_spec_of(public_key, field="public_key")
    _check_issuer(issuer_cert, issuer_key)
    start, end = _check_validity(not_before, not_after, issuer_cert)
    if sans.is_empty and (subject_cn is None or profile is not Profile.CLIENT):
        raise InvalidInput(
            "a certificate needs at least one subject alternative name"
            + ("" if profile is Profile.CLIENT else " (clients ignore the common name)"),
            code="sans_required",
            field="subject_alternative_names",
        )
    if cab_forum:
        check_cab_forum_key(public_key, field="public_key")
        check_cab_forum_key(issuer_key.public_key(), field="issuer_key")
        check_cab_forum_urls(ocsp_url, ca_issuers_url, crl_url)
        check_cab_forum_leaf(
            sans=sans, profile=profile, start=start, end=end, ocsp_url=ocsp_url, crl_url=crl_url
        )
    # Every choice is possible for an authority here; what one allows is its service's check.
    check_leaf_choices(
        authority_name=issuer_cert.subject.rfc4514_string(),
        subject=subject,
        key_usage=key_usage,
        extended_key_usage=extended_key_usage,
        public_key=public_key,
        allowed_subject_fields=tuple(SubjectField),
        allowed_extended_key_usages=tuple(ExtendedKeyUsageName),
        cab_forum=cab_forum,
    )
    common_name = leaf_common_name(subject_cn, sans, cab_forum=cab_forum)
    name = x509.Name(
        [
            *subject.attributes(),
            *(
                []
                if common_name is None
                else [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
            ),
        ]
    )
    if extended_key_usage is None:
        eku, eku_critical = extended_key_usage_for(profile), False
    else:
        eku, eku_critical = extended_key_usage_extension(extended_key_usage)

    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(_serial(serial))
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            leaf_key_usage(public_key) if key_usage is None else key_usage_extension(key_usage),
            critical=True,
        )
        .add_extension(eku, critical=eku_critical)
        .add_extension(authority_key_identifier(issuer_cert), critical=False)
    )
    if not cab_forum:
        # RFC 5280 §4.2.1.2 says SHOULD for end entities, BR §7.1.2.7.6 says NOT RECOMMENDED
        # for TLS subscribers (nothing uses it there), so public leaves go without.
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
        )
    if not sans.is_empty:
        builder = builder.add_extension(sans.to_extension(), critical=len(name) == 0)
    if cab_forum:
        # BR §7.1.6.1: the reserved identifier of the validation the subject reflects.
        policy = BR_DOMAIN_VALIDATED if subject.organization is None else BR_ORGANIZATION_VALIDATED
        builder = builder.add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(policy, None)]), critical=False
        )
    for extension in revocation_extensions(
        ocsp_url=ocsp_url, ca_issuers_url=ca_issuers_url, crl_url=crl_url
    ):
        builder = builder.add_extension(extension, critical=False)
    return _sign(builder, issuer_key)
