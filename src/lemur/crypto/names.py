"""Names that go into certificates: DNS names, IP addresses, email addresses and URIs.

Input names are validated and normalized once, here, so that every later comparison
(policy, inventory search, wildcard matching) works on one canonical form: lowercase
A-label DNS names without a trailing dot (RFC 5280 §4.2.1.6, RFC 5890).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

import idna
from cryptography import x509

from lemur.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_MAX_LABEL_OCTETS = 63  # RFC 1035 §2.3.4
_MAX_NAME_OCTETS = 253  # RFC 1035 §2.3.4: 255 on the wire, minus length octet and root label
_LDH_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
# RFC 5321 §4.1.2 dot-atom local part (quoted local parts are not accepted).
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_T = TypeVar("_T")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")  # RFC 3986 §3.1


class _Fail(Protocol):
    def __call__(self, message: str, code: str = ...) -> InvalidInput: ...


def _shorten(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    return True


def normalize_dns_name(value: str, *, field: str | None = None, allow_wildcard: bool = True) -> str:
    """Return the canonical form of a DNS name for a certificate (RFC 5280 §4.2.1.6).

    Strips one trailing dot, lowercases, converts U-labels to A-labels (IDNA 2008 with UTS #46
    mapping) and checks LDH syntax and lengths. A wildcard is accepted only as the whole
    leftmost label with at least two labels after it (``*.example.com``, not ``*.com``).

    Raises InvalidInput with code ``invalid_dns_name``, ``invalid_wildcard`` or
    ``ip_as_dns_name``.
    """

    def fail(message: str, code: str = "invalid_dns_name") -> InvalidInput:
        return InvalidInput(message, code=code, field=field)

    if not value:
        raise fail("the DNS name is empty")
    if value != value.strip() or any(c.isspace() for c in value):
        raise fail(f"DNS name '{_shorten(value)}' contains whitespace")
    name = value.removesuffix(".")
    if _is_ip(name):
        raise fail(
            f"'{_shorten(value, 45)}' is an IP address; pass it as an IP address, not a DNS name",
            "ip_as_dns_name",
        )
    if not name or name.startswith(".") or ".." in name or name.endswith("."):
        raise fail(f"DNS name '{_shorten(value, 60)}' has an empty label")

    labels = name.split(".")
    wildcard = labels[0] == "*"
    if wildcard:
        if not allow_wildcard:
            raise fail("a wildcard is not allowed here", "invalid_wildcard")
        labels = labels[1:]
        if len(labels) < 2:
            raise fail(
                f"wildcard '{value}' covers a whole top-level domain; a wildcard needs at "
                "least two labels after it (e.g. *.example.com)",
                "invalid_wildcard",
            )
    if any("*" in label for label in labels):
        raise fail(
            f"'{_shorten(value, 60)}': a wildcard must be the whole leftmost label (*.example.com)",
            "invalid_wildcard",
        )

    rest = ".".join(labels)
    if not rest.isascii():
        try:
            rest = idna.encode(rest, uts46=True, transitional=False).decode("ascii")
        except UnicodeError as exc:  # idna.IDNAError is a UnicodeError
            raise fail(f"DNS name '{_shorten(value, 60)}' is not a valid IDN: {exc}") from exc
    labels = rest.lower().split(".")

    for label in labels:
        _check_label(label, fail)
    if labels[-1].isdigit():
        # RFC 3696 §2: top-level domains are never all-numeric, so "1.2.3" is a typo'd address.
        raise fail(f"DNS name '{_shorten(value, 60)}' ends in an all-numeric label")

    result = ("*." if wildcard else "") + ".".join(labels)
    if len(result) > _MAX_NAME_OCTETS:
        raise fail(
            f"DNS name is {len(result)} bytes; DNS names are at most {_MAX_NAME_OCTETS} bytes"
        )
    return result


def _check_label(label: str, fail: _Fail) -> None:
    if len(label) > _MAX_LABEL_OCTETS:
        raise fail(
            f"label '{_shorten(label)}' is {len(label)} bytes; "
            f"DNS labels are at most {_MAX_LABEL_OCTETS} bytes"
        )
    if _LDH_LABEL.match(label):
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError) as exc:
                raise fail(f"label '{_shorten(label)}' is not a valid A-label: {exc}") from exc
        return
    if "_" in label:
        raise fail(
            f"label '{_shorten(label)}' contains an underscore; "
            "host names allow only letters, digits and hyphens"
        )
    if label.startswith("-") or label.endswith("-"):
        raise fail(f"label '{_shorten(label)}' starts or ends with a hyphen")
    raise fail(
        f"label '{_shorten(label)}' contains characters other than letters, digits and hyphens"
    )


def parse_ip_address(value: str, *, field: str | None = None) -> IPAddress:
    """Parse an IPv4 or IPv6 address (brackets around IPv6 are accepted).

    Raises InvalidInput(invalid_ip_address); zone ids (``fe80::1%eth0``) cannot be encoded in a
    certificate (RFC 5280 §4.2.1.6 iPAddress is 4 or 16 octets) and are rejected.
    """
    text = value.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError as exc:
        raise InvalidInput(
            f"'{_shorten(value, 45)}' is not an IPv4 or IPv6 address",
            code="invalid_ip_address",
            field=field,
        ) from exc
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        raise InvalidInput(
            "IPv6 zone ids cannot be put in a certificate", code="invalid_ip_address", field=field
        )
    return address


def validate_email(value: str, *, field: str | None = None) -> str:
    """Validate an rfc822Name (RFC 5280 §4.2.1.6: an RFC 5321 addr-spec, no display name).

    Returns ``local@domain`` with the domain normalized. Non-ASCII local parts would need
    SmtpUTF8Mailbox (RFC 8398), which Lemur does not issue, so they are rejected.
    Raises InvalidInput(invalid_email).
    """

    def fail(message: str) -> InvalidInput:
        return InvalidInput(message, code="invalid_email", field=field)

    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        raise fail(f"'{_shorten(value, 60)}' is not an email address (expected local@domain)")
    if not local.isascii():
        raise fail(
            "the part before '@' must be ASCII (internationalized mailboxes are not supported)"
        )
    if len(local) > 64 or not _LOCAL_PART.match(local):  # RFC 5321 §4.5.3.1.1
        raise fail(f"'{_shorten(local)}' is not a valid mailbox name")
    try:
        normalized = normalize_dns_name(domain, field=field, allow_wildcard=False)
    except InvalidInput as exc:
        raise fail(f"the domain of '{_shorten(value, 60)}' is invalid: {exc.message}") from exc
    return f"{local}@{normalized}"


def validate_uri(value: str, *, field: str | None = None) -> str:
    """Validate a uniformResourceIdentifier SAN (RFC 5280 §4.2.1.6).

    The URI must be absolute (scheme and scheme-specific part), ASCII (IRIs must be
    percent-encoded first), and if it has an authority its host must be a fully qualified
    DNS name or an IP address. Returns the value unchanged. Raises InvalidInput(invalid_uri).
    """

    def fail(message: str) -> InvalidInput:
        return InvalidInput(message, code="invalid_uri", field=field)

    if not value.isascii() or any(c.isspace() or ord(c) < 0x20 or c == "\x7f" for c in value):
        raise fail("a URI must be ASCII without spaces or control characters (percent-encode them)")
    scheme, sep, rest = value.partition(":")
    if not sep or not _URI_SCHEME.match(scheme) or not rest:
        raise fail(f"'{_shorten(value, 60)}' is not an absolute URI (expected scheme:...)")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError as exc:
        raise fail(f"'{_shorten(value, 60)}' is not a valid URI: {exc}") from exc
    if rest.startswith("//"):
        if not host:
            raise fail(f"'{_shorten(value, 60)}' has an empty host")
        if not _is_ip(host):
            try:
                normalize_dns_name(host, field=field, allow_wildcard=False)
            except InvalidInput as exc:
                raise fail(
                    f"the host of '{_shorten(value, 60)}' is invalid: {exc.message}"
                ) from exc
    return value


@dataclass(frozen=True, slots=True)
class SubjectAltNames:
    """The names of a subjectAltName extension that Lemur understands (RFC 5280 §4.2.1.6).

    Construct with :meth:`create` for user input (validates and normalizes); the plain
    constructor and :meth:`from_extension` take values as they are.
    """

    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[IPAddress, ...] = ()
    emails: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()

    @classmethod
    def create(
        cls,
        *,
        dns_names: Iterable[str] = (),
        ip_addresses: Iterable[str | IPAddress] = (),
        emails: Iterable[str] = (),
        uris: Iterable[str] = (),
        field: str = "subject_alternative_names",
    ) -> SubjectAltNames:
        """Validate and normalize user input; duplicates are dropped, order is kept.

        Errors name the offending entry, e.g. ``subject_alternative_names.dns_names[2]``.
        """
        ips = [
            ip
            if not isinstance(ip, str)
            else parse_ip_address(ip, field=f"{field}.ip_addresses[{i}]")
            for i, ip in enumerate(ip_addresses)
        ]
        return cls(
            dns_names=_unique(
                normalize_dns_name(n, field=f"{field}.dns_names[{i}]")
                for i, n in enumerate(dns_names)
            ),
            ip_addresses=_unique(ips),
            emails=_unique(
                validate_email(e, field=f"{field}.emails[{i}]") for i, e in enumerate(emails)
            ),
            uris=_unique(validate_uri(u, field=f"{field}.uris[{i}]") for i, u in enumerate(uris)),
        )

    @classmethod
    def from_extension(cls, extension: x509.SubjectAlternativeName) -> SubjectAltNames:
        """Read the names as they are in a certificate or CSR; other name types are ignored."""
        return cls(
            dns_names=tuple(extension.get_values_for_type(x509.DNSName)),
            ip_addresses=tuple(
                ip
                for ip in extension.get_values_for_type(x509.IPAddress)
                if isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
            ),
            emails=tuple(extension.get_values_for_type(x509.RFC822Name)),
            uris=tuple(extension.get_values_for_type(x509.UniformResourceIdentifier)),
        )

    @property
    def is_empty(self) -> bool:
        return not (self.dns_names or self.ip_addresses or self.emails or self.uris)

    def general_names(self) -> list[x509.GeneralName]:
        names: list[x509.GeneralName] = [x509.DNSName(n) for n in self.dns_names]
        names += [x509.IPAddress(ip) for ip in self.ip_addresses]
        names += [x509.RFC822Name(e) for e in self.emails]
        names += [x509.UniformResourceIdentifier(u) for u in self.uris]
        return names

    def to_extension(self) -> x509.SubjectAlternativeName:
        return x509.SubjectAlternativeName(self.general_names())

    def all_names(self) -> tuple[str, ...]:
        """Every name as text: DNS names, IP addresses, emails, then URIs."""
        return self.dns_names + tuple(str(ip) for ip in self.ip_addresses) + self.emails + self.uris


def _unique(values: Iterable[_T]) -> tuple[_T, ...]:
    return tuple(dict.fromkeys(values))


def _canonical(name: str) -> str:
    return name.lower().removesuffix(".")


def wildcard_covers(pattern: str, name: str) -> bool:
    """True when wildcard ``pattern`` matches ``name`` under RFC 6125 §6.4.3.

    ``*.example.com`` covers ``api.example.com`` but neither ``example.com`` nor
    ``a.b.example.com`` (the wildcard stands for exactly one label). Patterns that are not
    wildcards, or that Lemur would not issue (``*.com``), and wildcard names cover nothing.
    """
    pattern_labels = _canonical(pattern).split(".")
    name_labels = _canonical(name).split(".")
    return (
        pattern_labels[0] == "*"
        and len(pattern_labels) >= 3
        and "*" not in name_labels[0]
        and name_labels[0] != ""
        and name_labels[1:] == pattern_labels[1:]
    )


def covering_wildcards(name: str) -> list[str]:
    """The wildcard names that would cover ``name`` (``api.example.com`` -> ``*.example.com``).

    Used to find wildcard certificates in the inventory that serve a host name.
    """
    labels = _canonical(name).split(".")
    if len(labels) < 3 or not labels[0] or "*" in labels[0]:
        return []
    return ["*." + ".".join(labels[1:])]
