"""What a name typed into a request means, before anything is issued: its kind, canonical
and Unicode forms, what a wildcard covers, and its apex/www partner.

Validation is :class:`~lemur.crypto.names.SubjectAltNames.create`'s, the same that issuance
runs, so the request form's live check and the issuance can never disagree about a name.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import idna

from lemur.crypto.names import SubjectAltNames, covering_wildcards
from lemur.errors import InvalidInput

DNS, IP, EMAIL, URI = "dns", "ip", "email", "uri"


def classify(value: str) -> str:
    """``ip`` for an IPv4 or IPv6 address (brackets allowed), ``uri`` for anything else
    with a colon (a DNS name never has one: ``https://...``, ``spiffe://...``, ``urn:...``),
    ``email`` with an ``@``, else ``dns``."""
    text = value.strip()
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        pass
    else:
        return IP
    if ":" in text:
        return URI
    if "@" in text:
        return EMAIL
    return DNS


@dataclass(frozen=True)
class NameFacts:
    """One name as typed (``input``) and, when valid, as a certificate would carry it
    (``normalized``: lowercase A-labels without a trailing dot) and as people read it
    (``unicode``: U-labels). ``sans`` holds the name alone, ready for the policy checks."""

    input: str
    kind: str
    normalized: str | None
    unicode: str | None
    error: InvalidInput | None
    sans: SubjectAltNames | None

    @property
    def valid(self) -> bool:
        return self.error is None


def _to_unicode(name: str) -> str:
    """U-labels for display; a name whose A-labels cannot be decoded is shown as it is."""
    if "xn--" not in name:  # all-ASCII labels read the same (and decoding them is slow)
        return name
    wildcard = name.startswith("*.")
    rest = name[2:] if wildcard else name
    try:
        shown = idna.decode(rest)
    except (idna.IDNAError, UnicodeError):
        shown = rest
    return ("*." if wildcard else "") + shown


def examine(value: str) -> NameFacts:
    """Validate and normalise one name as issuance would. Never raises: an invalid name
    carries its InvalidInput (code and message) in ``error``."""
    kind = classify(value)
    try:
        if kind == IP:
            sans = SubjectAltNames.create(ip_addresses=[value])
            normalized = str(sans.ip_addresses[0])
        elif kind == URI:
            sans = SubjectAltNames.create(uris=[value])
            normalized = sans.uris[0]
        elif kind == EMAIL:
            sans = SubjectAltNames.create(emails=[value])
            normalized = sans.emails[0]
        else:
            sans = SubjectAltNames.create(dns_names=[value])
            normalized = sans.dns_names[0]
    except InvalidInput as exc:
        return NameFacts(value, kind, None, None, exc, None)
    shown = _to_unicode(normalized) if kind == DNS else normalized
    return NameFacts(value, kind, normalized, shown, None, sans)


@dataclass(frozen=True)
class WildcardCoverage:
    """What a wildcard name serves (RFC 6125 §6.4.3: exactly one label, never the base
    itself), with examples for people."""

    base: str
    example: str
    not_covered: tuple[str, ...]

    @property
    def summary(self) -> str:
        return (
            f"covers every name one label below {self.base} (such as {self.example}), "
            f"but not {self.base} itself nor names further down (such as "
            f"{self.not_covered[1]})"
        )


def wildcard_coverage(normalized: str) -> WildcardCoverage | None:
    """For a valid wildcard DNS name, what it covers; None for any other name."""
    if not normalized.startswith("*."):
        return None
    base = normalized[2:]
    return WildcardCoverage(base=base, example=f"www.{base}", not_covered=(base, f"a.b.{base}"))


def covering(normalized: str, wildcards: set[str]) -> str | None:
    """The wildcard among ``wildcards`` that already covers DNS name ``normalized``."""
    for candidate in covering_wildcards(normalized):
        if candidate in wildcards:
            return candidate
    return None


def www_partner(normalized: str) -> str | None:
    """The other half of the apex/www pair: ``www.x.test`` for ``x.test`` (any name without
    www), ``x.test`` for ``www.x.test``. None for wildcards, single-label names, and
    ``www.`` directly above a top-level domain, whose partner would be a TLD."""
    if normalized.startswith("*.") or "." not in normalized:
        return None
    if normalized.startswith("www."):
        rest = normalized[4:]
        return rest if "." in rest else None
    return f"www.{normalized}"
