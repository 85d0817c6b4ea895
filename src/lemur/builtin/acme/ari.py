"""ACME Renewal Information (RFC 9773): the CA's suggested renewal window."""

from __future__ import annotations

import base64
import datetime as dt

from acme import client as acme_client
from acme import messages
from cryptography import x509


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def certificate_id(certificate: x509.Certificate) -> str:
    """RFC 9773 §4.1: base64url(AKI keyIdentifier) "." base64url(DER serial INTEGER bytes).

    Raises ValueError when the certificate has no Authority Key Identifier."""
    try:
        aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        raise ValueError("the certificate has no Authority Key Identifier") from None
    if aki.key_identifier is None:
        raise ValueError("the certificate's Authority Key Identifier has no key identifier")
    serial = certificate.serial_number
    # The DER INTEGER's content octets: big-endian two's complement, with room for the sign.
    serial_bytes = serial.to_bytes((serial.bit_length() + 8) // 8, "big", signed=True)
    return f"{_b64url(aki.key_identifier)}.{_b64url(serial_bytes)}"


def suggested_window(
    client: acme_client.ClientV2, certificate: x509.Certificate
) -> tuple[dt.datetime, dt.datetime] | None:
    """The window the CA suggests, or None when its directory has no ``renewalInfo``."""
    try:
        base = client.directory["renewalInfo"]
    except KeyError:
        return None
    try:
        cert_id = certificate_id(certificate)
    except ValueError:
        return None
    response = client.net.get(f"{str(base).rstrip('/')}/{cert_id}")
    info = messages.RenewalInfo.from_json(response.json())
    start = info.suggested_window.start
    end = info.suggested_window.end
    if start is None or end is None:
        return None
    return _aware(start), _aware(end)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
