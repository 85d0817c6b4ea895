"""lemur cert revoke | renew: ending a certificate, or replacing it with a successor."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from lemur.certificates.schemas import (
    CertificateDetailOut,
    CertificateOut,
    RenewRequest,
)
from lemur.cli.certs.common import API, existing_file, print_issued
from lemur.cli.client import JSON, TOKEN, URL, connect
from lemur.cli.display import serial_hex, utc
from lemur.cli.options import bounds, ranged, record_id
from lemur.cli.output import Cancelled, UsageError, emit_json, out
from lemur.cli.requests import pending_answer, wait_option
from lemur.crypto.revocation import RevocationReason
from lemur.orders.schemas import RequestOut


def revoke(
    certificate_id: int = record_id(),
    reason: RevocationReason = typer.Option(
        RevocationReason.UNSPECIFIED, "--reason", help="RFC 5280 reason, e.g. key_compromise"
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="do not ask for confirmation (needed in scripts)"
    ),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Revoke a certificate (asks first unless --yes).

    Relying parties see it in the CRL and OCSP answers of its authority; it cannot be undone.
    Without --yes and without a terminal to ask on (a script, CI), it refuses (exit 2).
    """
    # Refused before anything is sent: a script must learn at once that it needs --yes.
    if not yes and not sys.stdin.isatty():
        raise UsageError(
            "revoking needs confirmation and standard input is not a terminal (a script?): "
            f"pass --yes to revoke without asking, e.g. lemur cert revoke {certificate_id} "
            f"--reason {reason.value} --yes",
            code="confirmation_required",
            field="yes",
        )
    with connect(url, token) as client:
        if not yes:
            c = client.get(f"{API}/{certificate_id}", CertificateDetailOut)
            question = (
                f"Revoke certificate {c.id} ({c.common_name or c.subject}, serial "
                f"{serial_hex(c.serial_number)}) at {client.url} for reason {reason.value}? "
                "This cannot be undone"
            )
            try:
                confirmed = typer.confirm(question, default=False, err=True)
            except typer.Abort:
                confirmed = False
            if not confirmed:
                raise Cancelled(f"not revoked: certificate {c.id} is unchanged")
        item = client.post(
            f"{API}/{certificate_id}/revoke", {"reason": reason.value}, CertificateOut
        )
    if as_json:
        emit_json(item.model_dump(mode="json"))
        return
    out.print(
        f"revoked certificate [bold]{item.id}[/] ({escape(item.common_name or '')}) "
        f"at {utc(item.revoked_at)}: {item.revocation_reason or reason.value}"
    )


def renew(
    certificate_id: int = record_id(),
    days: int | None = ranged(
        None,
        "--days",
        within=bounds(RenewRequest, "validity_days"),
        help="validity in days (default: as before)",
    ),
    csr: Path | None = existing_file(
        "a PEM CSR with the new key (required if the certificate was issued from a CSR); "
        "Lemur then keeps no key"
    ),
    wait: int = wait_option(),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Issue a successor with the same names, profile and team and a new key (yours with --csr)."""
    with connect(url, token) as client:
        body: dict[str, Any] = {"validity_days": days} if days is not None else {}
        if csr is not None:
            body["csr"] = csr.read_text(errors="replace")
        answer = client.post_either(
            f"{API}/{certificate_id}/renew", body, CertificateDetailOut, RequestOut
        )
        if isinstance(answer, RequestOut):
            issued_id = pending_answer(client, answer, wait, as_json)
            if issued_id is None:
                return
            answer = client.get(f"{API}/{issued_id}", CertificateDetailOut)
        item = answer
    if as_json:
        emit_json(item.model_dump(mode="json"))
        return
    print_issued(item, f"renewed {certificate_id} as")
    out.print("lineage: " + " -> ".join(str(e.id) for e in item.lineage), highlight=False)
