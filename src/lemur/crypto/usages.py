"""Key usages a leaf certificate may carry (RFC 5280 §4.2.1.3, §4.2.1.12): their names,
what each key type can serve, what the CA/Browser Forum TLS Baseline Requirements allow, and
the extensions built from them.

Errors name the request's fields (``key_usage[1]``, ``extended_key_usage[0]``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from lemur.crypto.keys import KeySpec, PublicKey
from lemur.errors import InvalidInput


class KeyUsageName(enum.StrEnum):
    """Key usage bits a leaf may carry (RFC 5280 §4.2.1.3); the CA bits are not offered."""

    DIGITAL_SIGNATURE = "digital_signature"
    CONTENT_COMMITMENT = "content_commitment"
    KEY_ENCIPHERMENT = "key_encipherment"
    DATA_ENCIPHERMENT = "data_encipherment"
    KEY_AGREEMENT = "key_agreement"


class ExtendedKeyUsageName(enum.StrEnum):
    """Key purposes a leaf may carry (RFC 5280 §4.2.1.12). OCSP signing is not offered:
    Lemur's CAs sign their OCSP answers themselves, a delegated responder is never needed."""

    SERVER_AUTH = "server_auth"
    CLIENT_AUTH = "client_auth"
    CODE_SIGNING = "code_signing"
    EMAIL_PROTECTION = "email_protection"
    TIME_STAMPING = "time_stamping"

    @property
    def oid(self) -> x509.ObjectIdentifier:
        return _EKU_OIDS[self]


_EKU_OIDS = {
    ExtendedKeyUsageName.SERVER_AUTH: ExtendedKeyUsageOID.SERVER_AUTH,
    ExtendedKeyUsageName.CLIENT_AUTH: ExtendedKeyUsageOID.CLIENT_AUTH,
    ExtendedKeyUsageName.CODE_SIGNING: ExtendedKeyUsageOID.CODE_SIGNING,
    ExtendedKeyUsageName.EMAIL_PROTECTION: ExtendedKeyUsageOID.EMAIL_PROTECTION,
    ExtendedKeyUsageName.TIME_STAMPING: ExtendedKeyUsageOID.TIME_STAMPING,
}

# What the key's algorithm can do: RFC 3279 §2.3.1 (RSA), RFC 5480 §3 (EC), RFC 8410 §5
# (Ed25519). An EC key cannot encipher a key, an RSA key cannot agree on one.
_RSA_USAGES = (
    KeyUsageName.DIGITAL_SIGNATURE,
    KeyUsageName.CONTENT_COMMITMENT,
    KeyUsageName.KEY_ENCIPHERMENT,
    KeyUsageName.DATA_ENCIPHERMENT,
)
_EC_USAGES = (
    KeyUsageName.DIGITAL_SIGNATURE,
    KeyUsageName.CONTENT_COMMITMENT,
    KeyUsageName.KEY_AGREEMENT,
)
_ED25519_USAGES = (KeyUsageName.DIGITAL_SIGNATURE, KeyUsageName.CONTENT_COMMITMENT)

# BR §7.1.2.7.10 / §7.1.2.7.11 / §7.1.4.2: what a publicly trusted TLS leaf may carry.
CAB_FORUM_EXTENDED_KEY_USAGES = (ExtendedKeyUsageName.SERVER_AUTH, ExtendedKeyUsageName.CLIENT_AUTH)
CAB_FORUM_KEY_USAGES = (KeyUsageName.DIGITAL_SIGNATURE, KeyUsageName.KEY_ENCIPHERMENT)


def default_extended_key_usages(*, cab_forum: bool) -> tuple[ExtendedKeyUsageName, ...]:
    """What a new authority allows unless told otherwise: the common purposes for a private
    CA, TLS server and client for a CA/B Forum one."""
    return CAB_FORUM_EXTENDED_KEY_USAGES if cab_forum else tuple(ExtendedKeyUsageName)


def key_usages_for(spec: KeySpec, *, cab_forum: bool = False) -> tuple[KeyUsageName, ...]:
    """The key usages a leaf with a key of ``spec`` may carry (under the BR if ``cab_forum``)."""
    possible: tuple[KeyUsageName, ...]
    if spec.value.startswith("rsa-"):
        possible = _RSA_USAGES
    elif spec is KeySpec.ED25519:
        possible = _ED25519_USAGES
    else:
        possible = _EC_USAGES
    return tuple(u for u in possible if not cab_forum or u in CAB_FORUM_KEY_USAGES)


def _key_usages_of(public_key: PublicKey) -> tuple[KeyUsageName, ...]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return _RSA_USAGES
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return _EC_USAGES
    assert isinstance(public_key, ed25519.Ed25519PublicKey)
    return _ED25519_USAGES


def _key_kind(public_key: PublicKey) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return "an RSA key"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return "an EC key"
    return "an Ed25519 key"


def joined(values: Iterable[str]) -> str:
    return ", ".join(values) or "none"


def key_usage_names(extension: x509.KeyUsage) -> tuple[KeyUsageName, ...]:
    """The leaf key usages an extension has, in the enum's order."""
    return tuple(u for u in KeyUsageName if getattr(extension, u.value))


def extended_key_usage_names(
    extension: x509.ExtendedKeyUsage,
) -> tuple[ExtendedKeyUsageName, ...]:
    """The purposes an extension has that Lemur offers, in the extension's order."""
    by_oid = {u.oid: u for u in ExtendedKeyUsageName}
    return tuple(by_oid[oid] for oid in extension if oid in by_oid)


def key_usage_extension(usages: Sequence[KeyUsageName]) -> x509.KeyUsage:
    chosen = set(usages)
    return x509.KeyUsage(
        digital_signature=KeyUsageName.DIGITAL_SIGNATURE in chosen,
        content_commitment=KeyUsageName.CONTENT_COMMITMENT in chosen,
        key_encipherment=KeyUsageName.KEY_ENCIPHERMENT in chosen,
        data_encipherment=KeyUsageName.DATA_ENCIPHERMENT in chosen,
        key_agreement=KeyUsageName.KEY_AGREEMENT in chosen,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def extended_key_usage_extension(
    usages: Sequence[ExtendedKeyUsageName],
) -> tuple[x509.ExtendedKeyUsage, bool]:
    """The extension and whether it is critical: RFC 3161 §2.3 wants a time-stamping
    certificate's EKU critical (and timeStamping its only purpose, see check_leaf_choices)."""
    critical = ExtendedKeyUsageName.TIME_STAMPING in usages
    return x509.ExtendedKeyUsage([u.oid for u in usages]), critical


def check_key_usage(
    key_usage: Sequence[KeyUsageName], public_key: PublicKey, *, cab_forum: bool
) -> None:
    """Refuse a key usage the key's algorithm cannot serve, or (``cab_forum``) that the BR
    forbid; a CA/B Forum leaf always has digital_signature (BR §7.1.2.7.11: required for
    ECDSA keys; TLS 1.3 handshakes are signed with RSA keys too, RFC 8446 §4.4.3)."""
    possible = _key_usages_of(public_key)
    for index, usage in enumerate(key_usage):
        if usage in key_usage[:index]:
            raise InvalidInput(
                f"'{usage}' is listed twice", code="duplicate_usage", field=f"key_usage[{index}]"
            )
        if usage not in possible:
            raise InvalidInput(
                f"{_key_kind(public_key)} cannot be used for {usage}; its possible key usages: "
                f"{joined(possible)}",
                code="key_usage_not_allowed",
                field=f"key_usage[{index}]",
            )
        if cab_forum and usage not in CAB_FORUM_KEY_USAGES:
            allowed = joined(u for u in possible if u in CAB_FORUM_KEY_USAGES)
            raise InvalidInput(
                f"publicly trusted TLS certificates may not have {usage} (CA/B Forum BR "
                f"§7.1.2.7.11); allowed for {_key_kind(public_key)}: {allowed}",
                code="key_usage_not_allowed",
                field=f"key_usage[{index}]",
            )
    if cab_forum and KeyUsageName.DIGITAL_SIGNATURE not in key_usage:
        raise InvalidInput(
            "a publicly trusted TLS certificate has digital_signature (CA/B Forum BR §7.1.2.7.11)",
            code="key_usage_required",
            field="key_usage",
        )
