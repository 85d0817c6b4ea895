"""This Lemur's own URLs for an authority (CRL distribution point, OCSP responder, CA
issuers), and the check that CA/B Forum certificates may carry them."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from lemur.errors import InvalidInput


@dataclass(frozen=True)
class AuthorityURLs:
    """This Lemur's own CRL, OCSP and CA-certificate URLs for an authority."""

    base_url: str

    def crl(self, authority_id: int) -> str:
        return f"{self.base_url}/crl/{authority_id}.crl"

    def ocsp(self, authority_id: int) -> str:
        return f"{self.base_url}/ocsp/{authority_id}"

    def ca_issuers(self, authority_id: int) -> str:
        return f"{self.base_url}/ca/{authority_id}.cer"


class BaseURLNotPublic(InvalidInput):
    """The base URL is internal, so certificates that must carry it cannot be made. The
    caller says which of its inputs asked for such a certificate (``field``)."""


def check_public_base_url(urls: AuthorityURLs, *, field: str) -> None:
    """CA/B Forum certificates carry this Lemur's CRL and OCSP URLs, and the Baseline
    Requirements (§7.1.2.11.2, pkilint cabf.internal_domain_name) forbid internal names and
    IP addresses there, and §7.1.2.7.7 wants them plain http:// (relying parties fetch
    them without TLS): refuse instead of issuing certificates every browser rejects.

    Raises BaseURLNotPublic(base_url_not_public) naming ``field``."""
    parts = urlsplit(urls.base_url)
    if parts.scheme.lower() != "http":
        raise BaseURLNotPublic(
            f"CA/B Forum authorities publish their CRL and OCSP at plain http:// URLs, and "
            f"'{urls.base_url}' is not one: set LEMUR_BASE_URL to this Lemur's public "
            "http:// URL (a TLS proxy may serve the rest of it)",
            code="base_url_not_public",
            field=field,
        )
    host = (parts.hostname or "").lower()
    try:
        ipaddress.ip_address(host)
        internal = True
    except ValueError:
        internal = "." not in host or host.endswith((".localhost", ".local", ".internal"))
    if internal:
        raise BaseURLNotPublic(
            f"CA/B Forum authorities need a public base URL for their CRL and OCSP URLs, and "
            f"'{urls.base_url}' is internal: set LEMUR_BASE_URL to this Lemur's public URL",
            code="base_url_not_public",
            field=field,
        )
