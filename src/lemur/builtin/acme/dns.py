"""DNS-01 records (RFC 8555 §8.4) through RFC 2136 dynamic updates signed with TSIG
(RFC 8945), sent over TCP to the zone's primary server.

Each record is added with its own value and deleted by that value only, so two orders for
the same name (``example.com`` and ``*.example.com`` share ``_acme-challenge.example.com``)
do not remove each other's records."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update

from lemur.builtin.acme.options import ACMEOptions
from lemur.plugins.errors import PluginConfigurationError, PluginRejected, PluginTransientError
from lemur.plugins.values import OutboundGuard

TTL = 60


@dataclass(frozen=True)
class TXTRecord:
    name: str  # absolute, without the trailing dot: _acme-challenge.a.example.com
    value: str


def validation_name(identifier: str) -> str:
    """Where the TXT record for ``identifier`` goes (a wildcard's base name for ``*.x``)."""
    return f"_acme-challenge.{identifier.removeprefix('*.').rstrip('.').lower()}"


def in_zone(name: str, zone: str) -> bool:
    name = name.removeprefix("*.").rstrip(".").lower()
    return name == zone or name.endswith(f".{zone}")


class TXTUpdater:
    """Adds and deletes TXT records in ``options.dns_zone`` at ``options.dns_server``."""

    def __init__(self, options: ACMEOptions, guard: OutboundGuard | None) -> None:
        server, zone, key_name = options.dns_server, options.dns_zone, options.tsig_key_name
        secret = options.tsig_secret
        if server is None or zone is None or key_name is None or secret is None:
            raise PluginConfigurationError(
                "dns-01 needs dns_server, dns_zone, tsig_key_name and tsig_secret",
                code="acme_dns_options_missing",
                field="options.challenge",
            )
        self._server = server
        self._port = options.dns_port
        self._zone = dns.name.from_text(zone)
        self._timeout = options.timeout
        self._guard = guard
        self._keyring = dns.tsigkeyring.from_text(
            {key_name: (options.tsig_algorithm, secret.get_secret_value().strip())}
        )

    def add(self, records: Sequence[TXTRecord]) -> None:
        self._update(records, add=True)

    def delete(self, records: Sequence[TXTRecord]) -> None:
        self._update(records, add=False)

    def _address(self) -> str:
        try:
            if self._guard is not None:
                return self._guard.check_host(self._server, self._port)[0]
            infos = socket.getaddrinfo(self._server, self._port, type=socket.SOCK_STREAM)
            return str(infos[0][4][0])
        except OSError as exc:
            raise PluginTransientError(
                f"cannot resolve the DNS server {self._server} ({type(exc).__name__})",
                code="peer_unreachable",
            ) from None

    def _update(self, records: Sequence[TXTRecord], *, add: bool) -> None:
        if not records:
            return
        update = dns.update.UpdateMessage(self._zone, keyring=self._keyring)
        for record in records:
            name = dns.name.from_text(record.name)
            if not name.is_subdomain(self._zone):
                raise PluginRejected(
                    f"{record.name} is not in the DNS zone {self._zone.to_text(True)} that "
                    "Lemur updates (dns_zone)",
                    code="acme_name_outside_zone",
                )
            rdata = f'"{record.value}"'
            if add:
                update.add(name, TTL, "TXT", rdata)
            else:
                update.delete(name, "TXT", rdata)
        where = f"the DNS server {self._server}:{self._port}"
        try:
            response = dns.query.tcp(
                update, self._address(), port=self._port, timeout=self._timeout
            )
        except (dns.tsig.PeerBadKey, dns.tsig.PeerBadSignature, dns.tsig.BadSignature):
            raise PluginConfigurationError(
                f"{where} refused the TSIG key (wrong tsig_key_name, tsig_algorithm or "
                "tsig_secret)",
                code="acme_tsig_refused",
                field="options.tsig_secret",
            ) from None
        except (dns.exception.Timeout, OSError) as exc:
            raise PluginTransientError(
                f"cannot reach {where} ({type(exc).__name__})", code="peer_unreachable"
            ) from None
        except dns.exception.DNSException as exc:
            raise PluginTransientError(
                f"{where} answered the update with an error ({type(exc).__name__})",
                code="peer_unavailable",
            ) from None
        rcode = response.rcode()
        if rcode == dns.rcode.NOERROR:
            return
        text = dns.rcode.to_text(rcode)
        if rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH):
            raise PluginConfigurationError(
                f"{where} refused to update TXT records in {self._zone.to_text(True)} "
                f"({text}): check that the TSIG key may update this zone",
                code="acme_dns_update_refused",
                field="options.tsig_key_name",
            )
        if rcode == dns.rcode.NOTZONE:
            raise PluginConfigurationError(
                f"{where} does not serve the zone {self._zone.to_text(True)} ({text})",
                code="acme_dns_update_refused",
                field="options.dns_zone",
            )
        raise PluginTransientError(
            f"{where} did not apply the update ({text})", code="peer_unavailable"
        )
