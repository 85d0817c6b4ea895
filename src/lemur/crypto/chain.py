"""Putting a leaf and a bag of CA certificates into path order (RFC 5280 §6.1, RFC 8446 §4.4.2).

This only checks that each certificate is signed by the next one; it is not path
validation (no trust anchors, dates, name constraints or policies). Its job is to turn
whatever a user pasted into a correctly ordered chain, or say which certificate is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes

from lemur.crypto.keys import public_key_der
from lemur.errors import InvalidInput


def _label(cert: x509.Certificate) -> str:
    return f"'{cert.subject.rfc4514_string() or '(empty subject)'}' (serial {cert.serial_number:x})"


def is_directly_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s subject is ``cert``'s issuer and its key verifies the signature."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    """True when the certificate is self-issued and its own key verifies its signature."""
    return cert.subject == cert.issuer and is_directly_issued_by(cert, cert)


def _identity(cert: x509.Certificate) -> tuple[bytes, bytes]:
    # The same CA (subject + key) may appear as several certificates, e.g. a root and its
    # cross-signed twin; either one completes the path.
    return cert.subject.public_bytes(), public_key_der(cert.public_key())


def order_chain(
    leaf: x509.Certificate, others: Iterable[x509.Certificate], *, field: str | None = None
) -> list[x509.Certificate]:
    """Return ``[leaf, issuer, issuer's issuer, ...]`` built from ``others`` in any order.

    Exact duplicates (and copies of the leaf) are dropped; the chain ends at a self-signed
    root or at the last certificate whose issuer is not in the bag. Raises
    InvalidInput(chain_invalid) naming a certificate that claims to issue another but whose
    signature does not verify, or one that is not part of the path at all.
    """
    seen = {leaf.fingerprint(hashes.SHA256())}
    pool: list[x509.Certificate] = []
    for cert in others:
        fingerprint = cert.fingerprint(hashes.SHA256())
        if fingerprint not in seen:
            seen.add(fingerprint)
            pool.append(cert)

    chain = [leaf]
    current = leaf
    while pool and not is_self_signed(current):
        named = [c for c in pool if c.subject == current.issuer]
        issuer = next((c for c in named if is_directly_issued_by(current, c)), None)
        if issuer is None:
            if named:
                raise InvalidInput(
                    f"certificate {_label(named[0])} has the issuer name of {_label(current)} "
                    "but its key does not verify that certificate's signature",
                    code="chain_invalid",
                    field=field,
                )
            break
        chain.append(issuer)
        pool.remove(issuer)
        current = issuer

    identities = {_identity(c) for c in chain}
    leftovers = [c for c in pool if _identity(c) not in identities]
    if leftovers:
        raise InvalidInput(
            f"certificate {_label(leftovers[0])} does not chain to {_label(leaf)}: "
            f"no certificate in the path was issued by it",
            code="chain_invalid",
            field=field,
        )
    return chain
