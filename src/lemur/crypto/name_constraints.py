"""Name constraints (RFC 5280 §4.2.1.10) checked before issuance, so that Lemur refuses a
name its CA may not certify instead of issuing a certificate every client rejects."""

from __future__ import annotations

import ipaddress

from cryptography import x509

from lemur.crypto.inspection import describe_certificate
from lemur.crypto.names import SubjectAltNames
from lemur.errors import InvalidInput


class NameNotPermitted(InvalidInput):
    """A name the CA may not certify. Carries which name (``kind``: ``dns`` or ``ip``, and
    the normalised ``name``) so the caller can point at the input it came from."""

    def __init__(self, message: str, *, kind: str, name: str) -> None:
        super().__init__(message, code="name_not_permitted")
        self.kind = kind
        self.name = name


def _dns_in_subtree(name: str, subtree: str) -> bool:
    """RFC 5280 §4.2.1.10: a DNS name is within a subtree when it is the subtree or ends
    with a dot and the subtree (a leading dot in the constraint means subdomains only)."""
    subtree = subtree.lower()
    if subtree.startswith("."):
        return name.endswith(subtree)
    return name == subtree or name.endswith("." + subtree)


def _wildcard_reaches(name: str, subtree: str) -> bool:
    """A wildcard also stands for names one label below its base: ``*.example.com``
    serves ``secret.example.com`` even though the literal string is not in that subtree."""
    if not name.startswith("*."):
        return False
    base = name[2:]
    head, _, parent = subtree.lower().lstrip(".").partition(".")
    return bool(head) and parent == base


def check_name_constraints(
    authority_name: str,
    ca_certificates: tuple[x509.Certificate, ...],
    sans: SubjectAltNames,
) -> None:
    """Refuse names outside the permitted or inside the excluded subtrees of any CA on the
    path (RFC 5280 §4.2.1.10), rather than issue a certificate that clients reject.

    Raises NameNotPermitted naming the name at fault."""
    for ca in ca_certificates:
        try:
            constraints = ca.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            continue
        ca_name = describe_certificate(ca).common_name or ca.subject.rfc4514_string()
        permitted = list(constraints.permitted_subtrees or ())
        excluded = list(constraints.excluded_subtrees or ())
        permitted_dns = [g.value for g in permitted if isinstance(g, x509.DNSName)]
        excluded_dns = [g.value for g in excluded if isinstance(g, x509.DNSName)]
        permitted_ip = [g.value for g in permitted if isinstance(g, x509.IPAddress)]
        excluded_ip = [g.value for g in excluded if isinstance(g, x509.IPAddress)]
        where = f"authority '{authority_name}'" + (
            "" if ca_name == authority_name else f" (through CA '{ca_name}')"
        )
        for name in sans.dns_names:
            if permitted_dns and not any(_dns_in_subtree(name, t) for t in permitted_dns):
                raise NameNotPermitted(
                    f"'{name}' is outside the names {where} may certify "
                    f"(permitted: {', '.join(permitted_dns)})",
                    kind="dns",
                    name=name,
                )
            for subtree in excluded_dns:
                if _dns_in_subtree(name, subtree) or _wildcard_reaches(name, subtree):
                    raise NameNotPermitted(
                        f"'{name}' is in '{subtree}', which {where} is not allowed to certify",
                        kind="dns",
                        name=name,
                    )
        for ip in sans.ip_addresses:
            if permitted_ip and not any(
                isinstance(net, type(ipaddress.ip_network(ip))) and ip in net
                for net in permitted_ip
            ):
                raise NameNotPermitted(
                    f"IP address {ip} is outside the networks {where} may certify",
                    kind="ip",
                    name=str(ip),
                )
            if any(
                isinstance(net, type(ipaddress.ip_network(ip))) and ip in net for net in excluded_ip
            ):
                raise NameNotPermitted(
                    f"IP address {ip} is in a network {where} is not allowed to certify",
                    kind="ip",
                    name=str(ip),
                )
