"""Certificate profiles: which extensions a certificate gets, and CA/B Forum limits.

The extension choices follow RFC 5280 §4.2 and, for publicly trusted TLS certificates, the
CA/Browser Forum TLS Baseline Requirements ("BR", v2.x, §7.1.2) as checked by pkilint.
"""

from __future__ import annotations

import datetime
import enum
import functools

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from lemur.crypto.keys import KeySpec, PrivateKey, PublicKey, describe_key_type, key_spec_of
from lemur.crypto.names import SubjectAltNames, normalize_dns_name, validate_uri
from lemur.errors import InvalidInput

# BR §7.1.6.1 reserved policy identifier for domain-validated subscriber certificates.
BR_DOMAIN_VALIDATED = x509.ObjectIdentifier("2.23.140.1.2.1")

# BR §6.3.2 (ballot SC-081): maximum subscriber validity by the date of issuance.
_TLS_VALIDITY_SCHEDULE = (
    (datetime.datetime(2026, 3, 15, tzinfo=datetime.UTC), 398),
    (datetime.datetime(2027, 3, 15, tzinfo=datetime.UTC), 200),
    (datetime.datetime(2029, 3, 15, tzinfo=datetime.UTC), 100),
)
_TLS_VALIDITY_FROM_2029 = 47

# BR §6.3.2: a root CA certificate is valid for at least 2922 and at most 9132 days.
ROOT_MIN_VALIDITY_DAYS = 2922
ROOT_MAX_VALIDITY_DAYS = 9132

_CAB_FORUM_KEY_SPECS = frozenset(
    {KeySpec.RSA_2048, KeySpec.RSA_3072, KeySpec.RSA_4096, KeySpec.EC_P256, KeySpec.EC_P384}
)

# BR §7.1.4.2 attribute order for subject names (those Lemur accepts in a CA subject).
_BR_SUBJECT_ORDER = (
    NameOID.DOMAIN_COMPONENT,
    NameOID.COUNTRY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.POSTAL_CODE,
    NameOID.STREET_ADDRESS,
    NameOID.ORGANIZATION_NAME,
    NameOID.SURNAME,
    NameOID.GIVEN_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.COMMON_NAME,
)


class Profile(enum.StrEnum):
    """What a leaf certificate is for (its extended key usage, RFC 5280 §4.2.1.12)."""

    SERVER = "server"
    CLIENT = "client"
    SERVER_CLIENT = "server-client"


def extended_key_usage(profile: Profile) -> x509.ExtendedKeyUsage:
    usages = {
        Profile.SERVER: [ExtendedKeyUsageOID.SERVER_AUTH],
        Profile.CLIENT: [ExtendedKeyUsageOID.CLIENT_AUTH],
        Profile.SERVER_CLIENT: [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
    }
    return x509.ExtendedKeyUsage(usages[profile])


def _key_usage(
    *, digital_signature: bool, key_encipherment: bool = False, ca: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def leaf_key_usage(public_key: PublicKey) -> x509.KeyUsage:
    """digitalSignature, plus keyEncipherment for RSA (RSA key transport in TLS 1.2, BR
    §7.1.2.7.11); EC and Ed25519 keys only sign."""
    return _key_usage(
        digital_signature=True, key_encipherment=isinstance(public_key, rsa.RSAPublicKey)
    )


def ca_key_usage() -> x509.KeyUsage:
    """keyCertSign and cRLSign, plus digitalSignature because Lemur's CAs sign OCSP responses
    directly (RFC 6960 §4.2.2.2; BR §7.1.2.10.7 allows it)."""
    return _key_usage(digital_signature=True, ca=True)


def signature_hash(issuer_key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | None:
    """The digest to sign with: matched to the key's strength (BR §7.1.3.2); None for Ed25519,
    which has its hash built in (RFC 8410 §6)."""
    if isinstance(issuer_key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey) and issuer_key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


@functools.lru_cache(maxsize=256)
def revocation_extensions(
    *, ocsp_url: str | None, ca_issuers_url: str | None, crl_url: str | None
) -> tuple[x509.ExtensionType, ...]:
    """AIA (RFC 5280 §4.2.2.1) and CRL distribution points (§4.2.1.13) for the given URLs.

    Cached: every certificate of an authority carries the same URLs, and validating them
    costs more than signing (only valid URLs are cached; a refusal is raised every time)."""
    extensions: list[x509.ExtensionType] = []
    access: list[x509.AccessDescription] = []
    if ocsp_url:
        validate_uri(ocsp_url, field="ocsp_url")
        access.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
            )
        )
    if ca_issuers_url:
        validate_uri(ca_issuers_url, field="ca_issuers_url")
        access.append(
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS,
                x509.UniformResourceIdentifier(ca_issuers_url),
            )
        )
    if access:
        extensions.append(x509.AuthorityInformationAccess(access))
    if crl_url:
        validate_uri(crl_url, field="crl_url")
        point = x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)],
            relative_name=None,
            reasons=None,
            crl_issuer=None,
        )
        extensions.append(x509.CRLDistributionPoints([point]))
    return tuple(extensions)


def check_cab_forum_urls(*urls: str | None) -> None:
    """BR §7.1.2.7.7 / §7.1.2.11.2: AIA and CRL locations are plain http:// URLs."""
    for url in urls:
        if url and not url.lower().startswith("http://"):
            raise InvalidInput(
                f"'{url}' must be an http:// URL for publicly trusted certificates "
                "(relying parties fetch it without TLS)",
                code="invalid_uri",
            )


def validity_period(
    not_before: datetime.datetime, not_after: datetime.datetime
) -> datetime.timedelta:
    """RFC 5280 §4.1.2.5: both ends are inclusive, so the period is one second longer."""
    return not_after - not_before + datetime.timedelta(seconds=1)


def max_tls_validity_days(not_before: datetime.datetime) -> int:
    """The BR §6.3.2 maximum subscriber validity in days for a certificate issued then."""
    for until, days in _TLS_VALIDITY_SCHEDULE:
        if not_before < until:
            return days
    return _TLS_VALIDITY_FROM_2029


def allowed_key_specs(*, cab_forum: bool) -> tuple[KeySpec, ...]:
    """The key types a leaf may have: all Lemur generates, or under the BR those of §6.1.5."""
    return tuple(k for k in KeySpec if not cab_forum or k in _CAB_FORUM_KEY_SPECS)


def check_cab_forum_key(public_key: PublicKey, *, field: str) -> None:
    """BR §6.1.5: RSA of at least 2048 bits or ECDSA on P-256/P-384; not Ed25519."""
    spec = key_spec_of(public_key, field=field)
    if spec not in allowed_key_specs(cab_forum=True):
        raise InvalidInput(
            f"{describe_key_type(public_key)} keys are not allowed in publicly trusted TLS "
            "certificates (CA/B Forum BR §6.1.5); use RSA or ECDSA P-256/P-384",
            code="unsupported_key_type",
            field=field,
        )


def check_cab_forum_ca_subject(subject: x509.Name) -> None:
    """BR §7.1.2.10.2: a CA subject has countryName, organizationName and commonName, one of
    each, in the BR §7.1.4.2 order, one attribute per RDN."""
    oids = [attribute.oid for attribute in subject]
    for required in (NameOID.COUNTRY_NAME, NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        if oids.count(required) != 1:
            raise InvalidInput(
                f"a publicly trusted CA subject needs exactly one {required._name} "
                "(CA/B Forum BR §7.1.2.10.2)",
                code="invalid_subject",
                field="subject",
            )
    unknown = [o for o in oids if o not in _BR_SUBJECT_ORDER]
    if unknown:
        raise InvalidInput(
            f"attribute {unknown[0]._name} is not allowed in a publicly trusted CA subject",
            code="invalid_subject",
            field="subject",
        )
    positions = [_BR_SUBJECT_ORDER.index(o) for o in oids]
    if positions != sorted(positions) or any(len(rdn) != 1 for rdn in subject.rdns):
        order = ", ".join(o._name for o in _BR_SUBJECT_ORDER)
        raise InvalidInput(
            f"subject attributes must be single-valued and in the order {order} "
            "(CA/B Forum BR §7.1.4.2)",
            code="invalid_subject",
            field="subject",
        )


def leaf_common_name(
    subject_cn: str | None, sans: SubjectAltNames, *, cab_forum: bool
) -> str | None:
    """Put the CN in the same form as the matching SAN (BR §7.1.4.3 requires a
    character-for-character copy); a CN that names no SAN is refused under ``cab_forum``."""
    if subject_cn is None:
        return None
    for candidate in (subject_cn, subject_cn.lower().removesuffix(".")):
        if candidate in sans.dns_names:
            return candidate
    try:
        normalized = normalize_dns_name(subject_cn, field="subject_cn")
    except InvalidInput:
        normalized = None
    if normalized in sans.dns_names:
        return normalized
    for ip in sans.ip_addresses:
        if subject_cn.strip("[]") == str(ip) or subject_cn == ip.exploded:
            return str(ip)
    if cab_forum:
        raise InvalidInput(
            f"common name '{subject_cn[:64]}' must be one of the certificate's DNS names or IP "
            "addresses (CA/B Forum BR §7.1.4.3)",
            code="common_name_not_in_sans",
            field="subject_cn",
        )
    return subject_cn


def check_cab_forum_names(sans: SubjectAltNames) -> None:
    """BR §7.1.2.7.12: DNS names (fully qualified, outside the reverse zones) and public IP
    addresses only. The one rule for issuance and for the request form's name check."""
    if sans.emails or sans.uris:
        raise InvalidInput(
            "publicly trusted TLS certificates may name only DNS names and IP addresses "
            "(CA/B Forum BR §7.1.2.7.12)",
            code="prohibited_san_type",
            field="subject_alternative_names",
        )
    for index, name in enumerate(sans.dns_names):
        # BR §7.1.2.7.12: reverse-lookup zones are prohibited for certificates from 2026-03-15.
        if name == "in-addr.arpa" or name.endswith((".in-addr.arpa", ".ip6.arpa")):
            raise InvalidInput(
                f"'{name}' is in a reverse DNS zone; name the IP address instead",
                code="invalid_dns_name",
                field=f"subject_alternative_names.dns_names[{index}]",
            )
        if "." not in name:
            raise InvalidInput(
                f"'{name}' is not a fully qualified domain name (CA/B Forum BR §7.1.2.7.12)",
                code="invalid_dns_name",
                field=f"subject_alternative_names.dns_names[{index}]",
            )
    for index, ip in enumerate(sans.ip_addresses):
        if not ip.is_global:
            raise InvalidInput(
                f"{ip} is a reserved or private address; publicly trusted certificates may "
                "name only public IP addresses (CA/B Forum BR §7.1.2.7.12)",
                code="invalid_ip_address",
                field=f"subject_alternative_names.ip_addresses[{index}]",
            )


def check_cab_forum_leaf(
    *,
    sans: SubjectAltNames,
    profile: Profile,
    start: datetime.datetime,
    end: datetime.datetime,
    ocsp_url: str | None,
    crl_url: str | None,
) -> None:
    if profile is Profile.CLIENT:
        raise InvalidInput(
            "the CA/B Forum TLS requirements apply to server certificates; "
            "use the 'server' or 'server-client' profile",
            code="invalid_profile",
            field="profile",
        )
    check_cab_forum_names(sans)
    max_days = max_tls_validity_days(start)
    period = validity_period(start, end)
    if period > datetime.timedelta(days=max_days):
        raise InvalidInput(
            f"a validity of {period.days} days exceeds the {max_days}-day maximum for TLS "
            f"certificates issued on {start.date().isoformat()} (CA/B Forum BR §6.3.2)",
            code="invalid_validity",
            field="not_after",
        )
    # BR §7.1.2.11.2: only short-lived certificates (<= 7 days) may omit revocation info.
    if not (ocsp_url or crl_url) and period > datetime.timedelta(days=7):
        raise InvalidInput(
            "publicly trusted certificates valid for more than 7 days need an OCSP or CRL URL",
            code="crl_url_required",
            field="crl_url",
        )


def authority_key_identifier(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """RFC 5280 §4.2.1.1: the keyIdentifier is the issuer's SKI, whichever method made it."""
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def aware_utc(
    value: datetime.datetime, field: str, code: str = "invalid_validity"
) -> datetime.datetime:
    """Convert an aware datetime to UTC; naive datetimes are refused, never guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} must be timezone-aware", code=code, field=field)
    return value.astimezone(datetime.UTC)
