"""lemur cert: request, import, list, show, export, revoke and renew certificates through the
API of a running Lemur (LEMUR_URL, LEMUR_TOKEN; see ``lemur.cli.client``)."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from lemur.bounds import MAX_VALIDITY_DAYS
from lemur.certificates.enums import SortKey, Status
from lemur.cli.bounds import within
from lemur.cli.client import JSON, TOKEN, URL, LemurClient, connect
from lemur.cli.display import (
    day,
    fields,
    key_label,
    material,
    read_passphrase,
    section,
    serial_hex,
    status_text,
    utc,
)
from lemur.cli.output import EXIT_ERROR, EXIT_USAGE, col, emit_json, err, out, table, time_col
from lemur.crypto.keys import KeySpec
from lemur.crypto.profiles import Profile
from lemur.crypto.revocation import RevocationReason
from lemur.errors import InvalidInput

cert = typer.Typer(
    help="Request, import, find, export, revoke and renew certificates (through the API: "
    "LEMUR_URL, LEMUR_TOKEN).",
    no_args_is_help=True,
)

API = "/api/v1/certificates"
PAGE_LIMIT_MAX = 200
SHOWN_NAMES = 3
SHOWN_HISTORY = 10


def _existing(help_text: str) -> Any:
    return typer.Option(None, exists=True, dir_okay=False, readable=True, help=help_text)


# -- request -----------------------------------------------------------------------------------


def print_issued(item: dict[str, Any], verb: str) -> None:
    out.print(f"{verb} certificate [bold]{item['id']}[/]: {escape(item['common_name'] or '')}")
    fields(
        [
            ("names", item["names"]),
            ("team", (item.get("team") or {}).get("name")),
            ("authority", (item.get("authority") or {}).get("name")),
            ("serial", serial_hex(item["serial_number"])),
            ("expires", utc(item["not_after"])),
            ("key", key_label(item) + ("" if item["has_private_key"] else " (no key in Lemur)")),
        ]
    )


@cert.command("request")
def request(
    names: list[str] | None = typer.Argument(
        None, help="DNS names; the first is the common name unless --cn is given"
    ),
    team: str = typer.Option(..., "--team", help="owning team (name or id)"),
    authority: str = typer.Option(
        ..., "--authority", help="issuing authority (name or id), e.g. local-issuing-ca"
    ),
    profile: Profile = typer.Option(Profile.SERVER, help="server, client or server-client"),
    days: int | None = typer.Option(
        None,
        "--days",
        help="validity in days (default: the authority's)",
        callback=within(1, MAX_VALIDITY_DAYS, "--days"),
    ),
    key_type: KeySpec = typer.Option(KeySpec.EC_P256, help="key Lemur generates"),
    csr: Path | None = _existing("a PEM CSR: names come from it and Lemur keeps no key"),
    ip: list[str] | None = typer.Option(None, "--ip", help="an IP address SAN (repeatable)"),
    email: list[str] | None = typer.Option(None, "--email", help="an email SAN (repeatable)"),
    uri: list[str] | None = typer.Option(None, "--uri", help="a URI SAN (repeatable)"),
    cn: str | None = typer.Option(None, "--cn", help="common name (default: the first NAME)"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Request a certificate; Lemur generates and keeps the key (or signs your --csr).

    The private key is stored encrypted and never in the answer: export it with
    `lemur cert export ID --format pkcs12 --passphrase-stdin --out FILE`.
    """
    dns = list(names or [])
    with connect(url, token) as client:
        body: dict[str, Any] = {
            "team_id": client.team(team)["id"],
            "authority_id": client.authority(authority)["id"],
            "profile": profile.value,
            "validity_days": days,
        }
        if csr is not None:
            body["csr"] = csr.read_text(errors="replace")
        else:
            body["key_type"] = key_type.value
        if cn is not None or dns:
            body["common_name"] = cn if cn is not None else dns[0]
        if dns or ip or email or uri:
            body["subject_alternative_names"] = {
                "dns_names": dns,
                "ip_addresses": list(ip or []),
                "emails": list(email or []),
                "uris": list(uri or []),
            }
        item = client.post(API, {k: v for k, v in body.items() if v is not None})
    if as_json:
        emit_json(item)
        return
    print_issued(item, "issued")


# -- import ------------------------------------------------------------------------------------


@cert.command("import")
def import_(
    certfile: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="PEM, DER or PKCS#12 file"
    ),
    team: str = typer.Option(..., "--team", help="owning team (name or id)"),
    chain: Path | None = _existing("PEM bundle of the intermediate certificates"),
    key: Path | None = _existing("the private key (PEM or DER)"),
    passphrase_stdin: bool = typer.Option(
        False, help="read the PKCS#12 or key passphrase from standard input"
    ),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Import an existing certificate, with its chain and private key if you have them."""
    body: dict[str, Any] = {
        "certificate": material(certfile, field="certificate"),
        "chain": material(chain, field="chain") if chain else None,
        "private_key": material(key, field="private_key") if key else None,
    }
    if passphrase_stdin:
        body["passphrase"] = read_passphrase("passphrase: ")
    with connect(url, token) as client:
        body["team_id"] = client.team(team)["id"]
        item = client.post(f"{API}/import", {k: v for k, v in body.items() if v is not None})
    if as_json:
        emit_json(item)
        return
    print_issued(item, "imported")


# -- list --------------------------------------------------------------------------------------


def names_cell(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN_NAMES])
    more = len(names) - SHOWN_NAMES
    return f"{shown} (+{more} more)" if more > 0 else shown


def fetch_all(client: LemurClient, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page, following next_cursor; a progress line on a terminal."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    status = err.status("fetching certificates") if err.is_terminal else None
    if status is not None:
        status.start()
    try:
        while True:
            page = client.get(API, **params, limit=PAGE_LIMIT_MAX, cursor=cursor)
            items.extend(page["items"])
            if status is not None:
                status.update(f"fetched {len(items)} certificates")
            cursor = page["next_cursor"]
            if not cursor:
                return items
    finally:
        if status is not None:
            status.stop()


@cert.command("list")
def list_(
    name: str | None = typer.Option(
        None, "--name", help="exact DNS name; also finds wildcards covering it"
    ),
    contains: str | None = typer.Option(None, "--contains", help="any name containing this"),
    team: str | None = typer.Option(None, "--team", help="team name or id"),
    authority: str | None = typer.Option(None, "--authority", help="authority name or id"),
    status: Status | None = typer.Option(
        None, "--status", help="valid, expiring, expired, revoked"
    ),
    expiring_within: int | None = typer.Option(
        None,
        "--expiring-within",
        metavar="DAYS",
        help="expiring within DAYS days",
        callback=within(0, MAX_VALIDITY_DAYS, "--expiring-within"),
    ),
    serial: str | None = typer.Option(None, "--serial", help="hex (colons allowed) or decimal"),
    fingerprint: str | None = typer.Option(None, "--fingerprint", help="SHA-256 or SHA-1, hex"),
    include_expired: bool = typer.Option(False, "--include-expired"),
    include_superseded: bool = typer.Option(
        False, "--include-superseded", help="also renewed (replaced) certificates"
    ),
    sort: SortKey = typer.Option(SortKey.NOT_AFTER, "--sort"),
    descending: bool = typer.Option(False, "--desc", help="sort descending"),
    all_pages: bool = typer.Option(False, "--all-pages", help="fetch every page"),
    limit: int = typer.Option(50, "--limit", min=1, max=PAGE_LIMIT_MAX, help="page size"),
    cursor: str | None = typer.Option(None, "--cursor", help="from the previous page's hint"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """List and search certificates (expired and renewed ones hidden unless asked for)."""
    if all_pages and cursor:
        raise typer.BadParameter("--all-pages starts at the first page", param_hint="--cursor")
    with connect(url, token) as client:
        params: dict[str, Any] = {
            "name": name,
            "name_contains": contains,
            "team_id": client.team(team)["id"] if team else None,
            "authority_id": client.authority(authority)["id"] if authority else None,
            "status": status.value if status else None,
            "expiring_within_days": expiring_within,
            "serial": serial,
            "fingerprint": fingerprint,
            "include_expired": "true" if include_expired else None,
            "include_superseded": "true" if include_superseded else None,
            "sort": sort.value,
            "order": "desc" if descending else "asc",
        }
        if all_pages:
            page: dict[str, Any] = {"items": fetch_all(client, params), "next_cursor": None}
        else:
            page = client.get(API, **params, limit=limit, cursor=cursor)
    if as_json:
        emit_json(page)
        return
    table(
        None,
        [
            col("id", fixed=True, right=True),
            col("common name", min_width=10),
            # Long names end in an ellipsis: `cert show` lists them in full.
            Column("names", overflow="ellipsis", min_width=10),
            "team",
            col("status", fixed=True),
            time_col("expires (UTC)"),
            col("key", fixed=True),
        ],
        [
            (
                c["id"],
                Text(c["common_name"] or ""),
                Text(names_cell(c["names"])),
                Text((c.get("team") or {}).get("name") or ""),
                status_text(c["status"]),
                day(c["not_after"]),
                key_label(c),
            )
            for c in page["items"]
        ],
    )
    if page["next_cursor"]:
        out.print(
            f"[dim]more: add --cursor {page['next_cursor']} (or --all-pages for everything)[/]"
        )


# -- show --------------------------------------------------------------------------------------


@cert.command("show")
def show(
    certificate_id: int = typer.Argument(..., metavar="ID"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Everything about one certificate: names, validity, key, chain, lineage, history."""
    with connect(url, token) as client:
        c = client.get(f"{API}/{certificate_id}")
    if as_json:
        emit_json(c)
        return
    sans = c["subject_alternative_names"]
    revoked = (
        f"{utc(c['revoked_at'])} ({c['revocation_reason'] or 'unspecified'})"
        if c["revoked_at"]
        else None
    )
    out.print(f"certificate [bold]{c['id']}[/]: {escape(c['common_name'] or c['subject'])}")
    fields(
        [
            ("status", c["status"]),
            ("revoked", revoked),
            ("subject", c["subject"]),
            ("issuer", c["issuer_dn"]),
            ("DNS names", sans["dns_names"]),
            ("IP addresses", sans["ip_addresses"]),
            ("emails", sans["emails"]),
            ("URIs", sans["uris"]),
            ("valid from", utc(c["not_before"])),
            ("valid until", utc(c["not_after"])),
            ("key", key_label(c)),
            (
                "private key",
                "held by Lemur (encrypted)" if c["has_private_key"] else "not in Lemur",
            ),
            ("signature", c["signature_algorithm"]),
            ("serial (hex)", serial_hex(c["serial_number"])),
            ("serial", c["serial_number_decimal"]),
            ("SHA-256", c["fingerprint_sha256"]),
            ("SHA-1", c["fingerprint_sha1"]),
            ("key usage", c["key_usage"]),
            ("extended key usage", c["extended_key_usage"]),
            ("CA", f"yes (path length {c['path_length']})" if c["is_ca"] else None),
            ("profile", c["profile"]),
            ("team", (c.get("team") or {}).get("name")),
            ("authority", (c.get("authority") or {}).get("name")),
            ("origin", f"{c['origin']} by {c['created_by']} at {utc(c['created_at'])}"),
            ("replaces", c["replaces_id"]),
            ("replaced by", c["replaced_by_id"]),
        ]
    )
    if c["chain"]:
        section("chain")
        for i, entry in enumerate(c["chain"], 1):
            out.print(Text(f"  {i}. {entry['subject']}  (until {day(entry['not_after'])})"))
    if len(c["lineage"]) > 1:
        section("lineage")
        for entry in c["lineage"]:
            marker = "  <- this one" if entry["id"] == c["id"] else ""
            out.print(
                Text(
                    f"  {entry['id']}: {day(entry['not_before'])} .. {day(entry['not_after'])}"
                    f"  {entry['status']}{marker}"
                )
            )
    if c["history"]:
        section("recent history (UTC)")
        rows = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
        for header in ("when", "actor", "action", "outcome"):
            rows.add_column(header, overflow="fold")
        for event in c["history"][-SHOWN_HISTORY:]:
            rows.add_row(
                day(event["occurred_at"]),
                Text(event["actor"]),
                Text(event["action"]),
                Text(event["outcome"]),
            )
        out.print(rows)


# -- export ------------------------------------------------------------------------------------


def exporters(client: LemurClient) -> dict[str, dict[str, Any]]:
    catalog = client.get("/api/v1/plugins", kind="exporter")
    return {p["slug"]: p for p in catalog["plugins"]}


def write_file(path: Path, content: bytes, *, secret: bool) -> None:
    """Write ``content``; a file holding a private key is created (or left) readable by its
    owner only, and never passes through a moment with a wider mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    try:
        if secret:
            os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
        os.write(fd, content)
    finally:
        os.close(fd)


@cert.command("export")
def export(
    certificate_id: int = typer.Argument(..., metavar="ID"),
    fmt: str = typer.Option(
        "pem-bundle",
        "--format",
        help="pem-bundle, pem-certificate, pem-chain, der-certificate, pkcs7-bundle, "
        "pkcs8-key, pkcs12 (see GET /api/v1/plugins)",
    ),
    out_path: Path | None = typer.Option(None, "--out", "-o", dir_okay=False, help="file to write"),
    passphrase_stdin: bool = typer.Option(
        False, help="read the passphrase for a key format (pkcs12, pkcs8-key) from standard input"
    ),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Export a certificate, its chain or (with the permission) its private key.

    Files with a key are written with mode 0600; binary formats are never written to a
    terminal. Key formats take the passphrase from standard input, never from the command line.
    """
    with connect(url, token) as client:
        known = exporters(client)
        if fmt not in known:
            raise InvalidInput(
                f"unknown export format '{fmt}' (formats: {', '.join(sorted(known))})",
                code="unknown_format",
                field="format",
            )
        with_key = bool(known[fmt].get("includes_private_key"))
        if passphrase_stdin and not with_key:
            raise typer.BadParameter(
                f"'{fmt}' holds no private key, so it takes no passphrase",
                param_hint="--passphrase-stdin",
            )
        if with_key and known[fmt].get("needs_passphrase") and not passphrase_stdin:
            raise InvalidInput(
                f"'{fmt}' needs a passphrase: pass --passphrase-stdin and give it on standard input",
                code="passphrase_required",
                field="passphrase",
            )
        binary_to_terminal = out_path is None and not as_json and sys.stdout.isatty()
        if binary_to_terminal and not _text_format(fmt, known[fmt]):
            raise typer.BadParameter(
                f"'{fmt}' is binary: write it to a file with --out, or redirect standard output",
                param_hint="--out",
            )
        if with_key:
            body: dict[str, Any] = {"format": fmt}
            if passphrase_stdin:
                body["passphrase"] = read_passphrase("export passphrase: ")
            response = client.request("POST", f"{API}/{certificate_id}/export", body=body)
        else:
            response = client.request(
                "GET", f"{API}/{certificate_id}/export", params={"format": fmt}
            )
    content = response.content
    text = content.lstrip().startswith(b"-----BEGIN")
    if binary_to_terminal and not text:
        raise typer.BadParameter(
            f"'{fmt}' is binary: write it to a file with --out, or redirect standard output",
            param_hint="--out",
        )
    if out_path is not None:
        write_file(out_path, content, secret=with_key)
    summary = {
        "id": certificate_id,
        "format": fmt,
        "contains_private_key": with_key,
        "bytes": len(content),
        "path": str(out_path) if out_path else None,
    }
    if as_json:
        if out_path is None:
            summary["content" if text else "content_base64"] = (
                content.decode() if text else base64.b64encode(content).decode()
            )
        emit_json(summary)
    elif out_path is not None:
        mode = " (mode 0600: it holds the private key)" if with_key else ""
        err.print(Text(f"wrote {fmt} of certificate {certificate_id} to {out_path}{mode}"))
    else:
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()


def _text_format(fmt: str, plugin: dict[str, Any]) -> bool:
    """PEM formats are text; the exporter's slug or title says so (DER, PKCS#7/#12 do not)."""
    return "pem" in fmt or "PEM" in str(plugin.get("title", ""))


# -- revoke, renew -----------------------------------------------------------------------------


@cert.command("revoke")
def revoke(
    certificate_id: int = typer.Argument(..., metavar="ID"),
    reason: RevocationReason = typer.Option(
        RevocationReason.UNSPECIFIED, "--reason", help="RFC 5280 reason, e.g. key_compromise"
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Revoke a certificate (asks first unless --yes).

    Relying parties see it in the CRL and OCSP answers of its authority; it cannot be undone.
    Without --yes and without a terminal to ask on, it refuses (exit 2).
    """
    with connect(url, token) as client:
        c = client.get(f"{API}/{certificate_id}")
        if not yes:
            if not sys.stdin.isatty():
                err.print(
                    "[bold red]error[/]: revoking needs confirmation and standard input is not "
                    "a terminal; pass --yes to revoke without asking"
                )
                raise typer.Exit(EXIT_USAGE)
            question = (
                f"Revoke certificate {c['id']} ({c['common_name'] or c['subject']}, serial "
                f"{serial_hex(c['serial_number'])}) for reason {reason.value}? "
                "This cannot be undone"
            )
            if not typer.confirm(question, default=False, err=True):
                err.print(f"not revoked: certificate {c['id']} is unchanged")
                raise typer.Exit(EXIT_ERROR)
        item = client.post(f"{API}/{certificate_id}/revoke", {"reason": reason.value})
    if as_json:
        emit_json(item)
        return
    out.print(
        f"revoked certificate [bold]{item['id']}[/] ({escape(item['common_name'] or '')}) "
        f"at {utc(item['revoked_at'])}: {item['revocation_reason'] or reason.value}"
    )


@cert.command("renew")
def renew(
    certificate_id: int = typer.Argument(..., metavar="ID"),
    days: int | None = typer.Option(
        None,
        "--days",
        help="validity in days (default: as before)",
        callback=within(1, MAX_VALIDITY_DAYS, "--days"),
    ),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Issue a successor with the same names, profile and team and a new key."""
    with connect(url, token) as client:
        body = {"validity_days": days} if days is not None else {}
        item = client.post(f"{API}/{certificate_id}/renew", body)
    if as_json:
        emit_json(item)
        return
    print_issued(item, f"renewed {certificate_id} as")
    out.print(
        "lineage: " + " -> ".join(str(e["id"]) for e in item["lineage"]),
        highlight=False,
    )
