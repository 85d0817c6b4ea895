"""lemur cert show: everything about one certificate."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text

from lemur.certificates.schemas import CertificateDetailOut
from lemur.cli.certs.common import API
from lemur.cli.certs.settings import settings_notify
from lemur.cli.client import JSON, TOKEN, URL, connect
from lemur.cli.display import day, fields, key_label, section, serial_hex, utc
from lemur.cli.options import record_id
from lemur.cli.output import emit_json, out, table, time_col

SHOWN_HISTORY = 10


def show(
    certificate_id: int = record_id(),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Everything about one certificate: names, validity, key, chain, lineage, history."""
    with connect(url, token) as client:
        c = client.get(f"{API}/{certificate_id}", CertificateDetailOut)
    if as_json:
        emit_json(c.model_dump(mode="json"))
        return
    print_detail(c)


def print_detail(c: CertificateDetailOut) -> None:
    sans = c.subject_alternative_names
    revoked = (
        f"{utc(c.revoked_at)} ({c.revocation_reason or 'unspecified'})" if c.revoked_at else None
    )
    out.print(f"certificate [bold]{c.id}[/]: {escape(c.common_name or c.subject)}")
    fields(
        [
            ("status", c.status),
            ("revoked", revoked),
            ("subject", c.subject),
            ("issuer", c.issuer_dn),
            ("DNS names", sans.dns_names),
            ("IP addresses", sans.ip_addresses),
            ("emails", sans.emails),
            ("URIs", sans.uris),
            ("valid from", utc(c.not_before)),
            ("valid until", utc(c.not_after)),
            ("key", key_label(c)),
            ("private key", "held by Lemur (encrypted)" if c.has_private_key else "not in Lemur"),
            ("signature", c.signature_algorithm),
            ("serial (hex)", serial_hex(c.serial_number)),
            ("serial", c.serial_number_decimal),
            ("SHA-256", c.fingerprint_sha256),
            ("SHA-1", c.fingerprint_sha1),
            ("key usage", c.key_usage),
            ("extended key usage", c.extended_key_usage),
            ("CA", f"yes (path length {c.path_length})" if c.is_ca else None),
            ("profile", c.profile),
            ("team", c.team.name if c.team else None),
            ("description", c.description),
            ("notifications", settings_notify(c)),
            ("archived", f"{utc(c.archived_at)} by {c.archived_by}" if c.archived_at else None),
            ("authority", c.authority.name if c.authority else None),
            ("origin", f"{c.origin} by {c.created_by} at {utc(c.created_at)}"),
            ("replaces", c.replaces_id),
            ("replaced by", c.replaced_by_id),
        ]
    )
    if c.chain:
        section("chain")
        for i, entry in enumerate(c.chain, 1):
            out.print(Text(f"  {i}. {entry.subject}  (until {day(entry.not_after)})"))
    if len(c.lineage) > 1:
        section("lineage")
        for step in c.lineage:
            marker = "  <- this one" if step.id == c.id else ""
            out.print(
                Text(
                    f"  {step.id}: {day(step.not_before)} .. {day(step.not_after)}"
                    f"  {step.status}{marker}"
                )
            )
    if c.history:
        section("recent history (UTC)")
        table(
            None,
            [time_col("when"), "actor", "action", "outcome"],
            [
                (day(e.occurred_at), Text(e.actor), Text(e.action), Text(e.outcome))
                for e in c.history[-SHOWN_HISTORY:]
            ],
        )
