"""The inventory's one search box: what a typed text looks for is decided by its shape
alone, the same way for everyone (docs/ui.md "Certificates"):

- 64 hex digits (with or without colons): a SHA-256 fingerprint.
- 40 hex digits: a SHA-1 fingerprint, else a serial number of that length (serials may be
  20 octets long, RFC 5280 §4.1.2.2, so both readings are tried, the fingerprint first).
- ``0x`` and hex digits, two-digit hex octets separated by colons or spaces
  (``3a:4f:...``, as OpenSSL prints them), or at least 16 hex or decimal digits: a serial
  number (all-digit text is read both as decimal and as hex). An IPv6 address is a name.
- Anything else is a name: names containing it (in A-labels for internationalised names),
  plus the wildcards that cover it (``api.example.com`` finds ``*.example.com``). A
  wildcard (``*.example.com``) or fewer than 3 characters is an exact name.

Short serials typed without ``0x`` or colons read as names; ``kind`` overrides the shape.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import ipaddress
import re
import string
from dataclasses import dataclass

from sqlalchemy.orm import Session

from lemur.authz import Principal
from lemur.certificates.enums import SortKey
from lemur.certificates.queries import CertificateFilter, CertificatePage, search

# Fewer hex digits than this without "0x" or colons is more likely part of a name ("db01",
# "cafe") than a serial; CA/Browser Forum serials carry at least 64 random bits anyway.
MIN_SERIAL_DIGITS = 16
MIN_SUBSTRING = 3
SHA1_DIGITS, SHA256_DIGITS = 40, 64
_OCTETS = re.compile(r"[0-9a-f]{2}([: ][0-9a-f]{2})+")


class SearchKind(enum.StrEnum):
    NAME = "name"
    SERIAL = "serial"
    FINGERPRINT = "fingerprint"


def _hex(text: str) -> bool:
    return bool(text) and all(c in string.hexdigits for c in text)


def _compact(text: str) -> str:
    return re.sub(r"[:\s]", "", text.strip().lower())


def kind_of(text: str) -> SearchKind:
    """What ``text`` looks for, by its shape (see the module's docstring)."""
    value = text.strip().lower()
    if value.startswith("0x") and _hex(value[2:]):
        return SearchKind.SERIAL
    compact = _compact(value)
    octets = _OCTETS.fullmatch(value) is not None
    if not octets and ":" in value:
        try:
            ipaddress.ip_address(value.strip("[]"))
            return SearchKind.NAME
        except ValueError:
            pass
    if octets or (_hex(compact) and len(compact) >= MIN_SERIAL_DIGITS):
        if len(compact) in (SHA1_DIGITS, SHA256_DIGITS):
            return SearchKind.FINGERPRINT
        return SearchKind.SERIAL
    return SearchKind.NAME


def _narrowed(flt: CertificateFilter, text: str, kind: SearchKind) -> CertificateFilter:
    """``flt`` and the search box's terms for ``text`` searched as ``kind``."""
    value = text.strip()
    if kind is SearchKind.FINGERPRINT:
        return dataclasses.replace(flt, fingerprint=_compact(value))
    if kind is SearchKind.SERIAL:
        return dataclasses.replace(flt, serial=re.sub(r"\s+", ":", value))
    if "*" in value or len(value) < MIN_SUBSTRING:
        return dataclasses.replace(flt, name=value)
    return dataclasses.replace(flt, name_like=value)


@dataclass(frozen=True)
class Found:
    kind: SearchKind  # what the text was searched as
    page: CertificatePage


def find(
    session: Session,
    principal: Principal,
    text: str,
    flt: CertificateFilter,
    *,
    kind: SearchKind | None = None,
    now: dt.datetime,
    sort: SortKey = SortKey.NOT_AFTER,
    descending: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> Found:
    """One page of the certificates ``text`` finds within ``flt`` (searched as ``kind``, or
    as its shape says). Two statements, four when a 40-digit fingerprint finds nothing and
    is tried as a serial. Raises InvalidInput (a serial or fingerprint that is not one)."""
    chosen = kind or kind_of(text)

    def run(as_kind: SearchKind) -> CertificatePage:
        return search(
            session,
            principal,
            _narrowed(flt, text, as_kind),
            now=now,
            sort=sort,
            descending=descending,
            limit=limit,
            cursor=cursor,
        )

    page = run(chosen)
    if (
        kind is None
        and chosen is SearchKind.FINGERPRINT
        and len(_compact(text)) == SHA1_DIGITS
        and not page.items
    ):
        return Found(SearchKind.SERIAL, run(SearchKind.SERIAL))
    return Found(chosen, page)
