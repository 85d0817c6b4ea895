"""Reading certificate material a user uploads: PKCS#12 detection, leaf-of-bundle, and
passphrase errors attributed to the passphrase field."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from cryptography import x509

from lemur.errors import InvalidInput

_T = TypeVar("_T")


def passphrase_errors(load: Callable[[], _T]) -> _T:
    """A wrong or missing passphrase is the passphrase field's fault, not the file's."""
    try:
        return load()
    except InvalidInput as exc:
        if exc.code in {"pkcs12_bad_passphrase", "private_key_bad_passphrase"}:
            raise InvalidInput(exc.message, code=exc.code, field="passphrase") from exc
        raise


def leaf_of(certs: list[x509.Certificate]) -> x509.Certificate:
    """The certificate of a bundle that issued none of the others (the first one when that
    is ambiguous), so a bundle pasted in any order is read as leaf plus chain."""
    if len(certs) == 1:
        return certs[0]
    subjects_issuing = {c.issuer for c in certs if c.issuer != c.subject}
    leaves = [c for c in certs if c.subject not in subjects_issuing]
    return leaves[0] if len(leaves) == 1 else certs[0]


def looks_like_pkcs12(data: bytes) -> bool:
    """PKCS#12 is a DER SEQUENCE whose first element is the INTEGER version (RFC 7292 §4);
    a certificate's first element is the tbsCertificate SEQUENCE. Looking at that one tag
    keeps a truncated DER certificate from being reported as a broken PKCS#12 file."""
    if len(data) < 4 or data[0] != 0x30:
        return False
    length_octet = data[1]
    offset = 2 if length_octet < 0x80 else 2 + (length_octet & 0x7F)
    return len(data) > offset and data[offset] == 0x02
