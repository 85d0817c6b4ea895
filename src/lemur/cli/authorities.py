"""lemur authority: create, list and show certificate authorities through the API of a
running Lemur (LEMUR_URL, LEMUR_TOKEN)."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from cryptography import x509
from rich.markup import escape
from rich.text import Text

from lemur.authorities.schemas import (
    AuthorityCreate,
    AuthorityDetailOut,
    AuthorityOut,
    ConnectionCheckOut,
)
from lemur.authorities.specs import LOCAL_CA
from lemur.catalog.schemas import PluginCatalogOut
from lemur.cli.client import JSON, TOKEN, URL, connect
from lemur.cli.display import day, fields, key_label, section, utc
from lemur.cli.options import bounds, ranged
from lemur.cli.output import UsageError, col, emit, emit_json, err, out, table, time_col
from lemur.cli.plugin_options import (
    describe_options,
    option_flag,
    parse_options,
    plugin,
    prompt_missing,
)
from lemur.crypto.keys import KeySpec
from lemur.crypto.subjects import SubjectField
from lemur.crypto.usages import ExtendedKeyUsageName

authority = typer.Typer(
    help="Create and inspect certificate authorities (through the API: LEMUR_URL, LEMUR_TOKEN).",
    no_args_is_help=True,
)

API = "/api/v1/authorities"


def chain_subjects(chain_pem: list[str]) -> list[str]:
    """The subject of each certificate of the chain, the authority's own first."""
    subjects = []
    for pem in chain_pem:
        try:
            subjects.append(x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string())
        except ValueError:
            subjects.append("(unreadable certificate)")
    return subjects


def print_authority(a: AuthorityDetailOut, parent: str | None) -> None:
    out.print(f"authority [bold]{a.id}[/]: {escape(a.name)}")
    fields(
        [
            ("description", a.description),
            ("subject", a.subject),
            ("parent", parent),
            ("kind", "root CA" if a.parent_id is None and a.has_key else None),
            ("plugin", a.plugin),
            ("key", _key_line(a)),
            ("valid from", utc(a.not_before)),
            ("valid until", utc(a.not_after)),
            (
                "issues",
                f"{a.default_validity_days} days by default, at most {a.max_validity_days}",
            ),
            ("CA/B Forum", "yes (Baseline Requirements enforced)" if a.cab_forum else None),
            ("subject fields", ", ".join(a.allowed_subject_fields) or "common name only"),
            ("extended key usages", ", ".join(a.allowed_extended_key_usages)),
            ("key export", "allowed (audited)" if a.exportable else None),
            ("active", "yes" if a.active else "no"),
            ("CRL", a.crl_url),
            ("OCSP", a.ocsp_url),
            ("CA issuers", a.ca_issuers_url),
            ("created", utc(a.created_at)),
        ]
    )
    _print_options(a)
    if a.chain_pem:
        section("chain")
        for i, subject in enumerate(chain_subjects(a.chain_pem), 1):
            out.print(Text(f"  {i}. {subject}"))


def _key_line(a: AuthorityDetailOut) -> str | None:
    if a.has_key:
        return key_label(a)
    if a.plugin == "external":
        return key_label(a) + " (no key: imported)"
    return (
        key_label(a) + " " if a.subject else ""
    ) + f"(held by the CA, reached through {a.plugin})"


def _print_options(a: AuthorityDetailOut) -> None:
    shown = {k: v for k, v in a.options.items() if k != "secrets_set" and v not in (None, "", [])}
    secrets = a.options.get("secrets_set") or []
    if not shown and not secrets:
        return
    section("options")
    fields([(k, v if isinstance(v, str) else json.dumps(v)) for k, v in sorted(shown.items())])
    if secrets:
        fields([("secrets set", ", ".join(secrets))])


@authority.command("create")
def create(
    name: str = typer.Argument(..., help="short name, e.g. web-issuing-ca"),
    cn: str | None = typer.Option(
        None, "--cn", help='subject common name, e.g. "Example Root CA" (local CAs)'
    ),
    org: str | None = typer.Option(None, "--org", help="subject organization"),
    org_unit: str | None = typer.Option(None, "--org-unit", help="subject organizational unit"),
    country: str | None = typer.Option(None, "--country", help="two-letter country code"),
    description: str = typer.Option("", "--description"),
    key_type: KeySpec = typer.Option(KeySpec.EC_P256, help="the CA's key"),
    days: int | None = ranged(
        None,
        "--days",
        within=bounds(AuthorityCreate, "validity_days"),
        help="the CA certificate's validity in days (default: 3650, or what --parent has left)",
    ),
    parent: str | None = typer.Option(
        None, "--parent", help="issuing authority (name or id); omit for a root CA"
    ),
    path_length: int | None = ranged(
        None,
        "--path-length",
        within=bounds(AuthorityCreate, "path_length"),
        help="how many intermediates may follow below it",
    ),
    permit_dns: list[str] | None = typer.Option(
        None, "--permit-dns", help="name constraint: permitted DNS subtree (repeatable)"
    ),
    exclude_dns: list[str] | None = typer.Option(
        None, "--exclude-dns", help="name constraint: excluded DNS subtree (repeatable)"
    ),
    cab_forum: bool = typer.Option(
        False, "--cab-forum", help="restrict issuance to the CA/Browser Forum Baseline Requirements"
    ),
    default_days: int | None = ranged(
        None,
        "--default-days",
        within=bounds(AuthorityCreate, "default_validity_days"),
        help="default validity of certificates it issues",
    ),
    max_days: int | None = ranged(
        None,
        "--max-days",
        within=bounds(AuthorityCreate, "max_validity_days"),
        help="maximum validity of certificates it issues",
    ),
    exportable: bool = typer.Option(
        False, "--exportable", help="allow exporting the CA's private key (audited); permanent"
    ),
    allow_subject: list[SubjectField] | None = typer.Option(
        None,
        "--allow-subject",
        help="a subject field requesters may set (repeatable; default: all, or country only "
        "with --cab-forum)",
    ),
    allow_eku: list[ExtendedKeyUsageName] | None = typer.Option(
        None,
        "--allow-eku",
        help="an extended key usage requesters may ask for (repeatable; default: all, or "
        "server_auth and client_auth with --cab-forum)",
    ),
    plugin_slug: str = typer.Option(
        LOCAL_CA,
        "--plugin",
        help="the issuer plugin: local-ca (a CA Lemur creates), or acme, cfssl, aws-pca (a "
        "CA Lemur reaches with --option values; `lemur authority plugins` lists them)",
    ),
    option: list[str] | None = option_flag(),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Create an authority: a local CA (a root, or an intermediate under --parent; its key
    is generated by Lemur and stored encrypted by the key ring), or one reached through an
    issuer plugin (--plugin acme|cfssl|aws-pca with its --option values: Lemur connects
    first, and creates nothing when that fails).
    """
    if plugin_slug != LOCAL_CA:
        local_only = {
            "--cn": cn, "--org": org, "--org-unit": org_unit, "--country": country,
            "--days": days, "--parent": parent, "--path-length": path_length,
            "--permit-dns": permit_dns, "--exclude-dns": exclude_dns,
            "--cab-forum": cab_forum or None, "--exportable": exportable or None,
            "--key-type": None if key_type is KeySpec.EC_P256 else key_type,
        }  # fmt: skip
        given = [flag for flag, value in local_only.items() if value]
        if given:
            raise UsageError(
                f"{', '.join(given)}: only for a CA Lemur creates (--plugin local-ca); the CA "
                f"of {plugin_slug} has its own"
            )
        with connect(url, token) as client:
            found = plugin(client, "issuer", plugin_slug)
            body: dict[str, Any] = {
                "name": name,
                "description": description,
                "plugin": plugin_slug,
                "options": prompt_missing(found, parse_options(option, found.options_schema)),
                "default_validity_days": default_days,
                "max_validity_days": max_days,
                "allowed_subject_fields": [f.value for f in allow_subject]
                if allow_subject
                else None,
                "allowed_extended_key_usages": [u.value for u in allow_eku] if allow_eku else None,
            }
            with err.status(f"connecting to the CA of {plugin_slug}"):
                a = client.post(
                    API, {k: v for k, v in body.items() if v is not None}, AuthorityDetailOut
                )
        if as_json:
            emit_json(a.model_dump(mode="json"))
            return
        out.print("created:")
        print_authority(a, None)
        return
    if option:
        raise UsageError("--option: the local-ca plugin has no options")
    if cn is None:
        raise UsageError("--cn is required for a CA Lemur creates (its subject common name)")
    with connect(url, token) as client:
        parent_row = client.authority(parent, option="--parent") if parent else None
        subject = {
            "common_name": cn,
            "organization": org,
            "organizational_unit": org_unit,
            "country": country,
        }
        body = {
            "name": name,
            "description": description,
            "subject": {k: v for k, v in subject.items() if v is not None},
            "key_type": key_type.value,
            "validity_days": days,
            "parent_id": parent_row.id if parent_row else None,
            "path_length": path_length,
            "permitted_dns_domains": list(permit_dns or []),
            "excluded_dns_domains": list(exclude_dns or []),
            "cab_forum": cab_forum,
            "default_validity_days": default_days,
            "max_validity_days": max_days,
            "exportable": exportable,
            "allowed_subject_fields": [f.value for f in allow_subject] if allow_subject else None,
            "allowed_extended_key_usages": [u.value for u in allow_eku] if allow_eku else None,
        }
        a = client.post(API, {k: v for k, v in body.items() if v is not None}, AuthorityDetailOut)
    if as_json:
        emit_json(a.model_dump(mode="json"))
        return
    out.print("created:")
    print_authority(a, parent_row.name if parent_row else None)


@authority.command("list")
def list_(url: str | None = URL, token: str | None = TOKEN, as_json: bool = JSON) -> None:
    """List the authorities."""
    with connect(url, token) as client:
        rows = client.get(API, list[AuthorityOut])
    if as_json:
        emit_json([a.model_dump(mode="json") for a in rows])
        return
    names = {a.id: a.name for a in rows}
    table(
        None,
        [
            col("id", fixed=True, right=True),
            "name",
            "subject",
            "parent",
            col("key", fixed=True),
            time_col("expires (UTC)"),
            col("flags"),
        ],
        [
            (
                a.id,
                Text(a.name),
                Text(a.subject or ""),
                Text(names.get(a.parent_id, "") if a.parent_id else ""),
                key_label(a),
                day(a.not_after),
                " ".join(
                    flag
                    for flag, on in (
                        ("no-key", not a.has_key),
                        ("cab-forum", a.cab_forum),
                        ("inactive", not a.active),
                    )
                    if on
                ),
            )
            for a in rows
        ],
        drop_empty=("parent", "flags"),
    )


@authority.command("show")
def show(
    ref: str = typer.Argument(..., metavar="AUTHORITY", help="name or id"),
    pem: bool = typer.Option(
        False, "--pem", help="print the certificate chain as PEM (the authority's own first)"
    ),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """One authority with its chain (--pem: the chain as PEM, for openssl and trust stores)."""
    with connect(url, token) as client:
        row = client.authority(ref, option="authority")
        a = client.get(f"{API}/{row.id}", AuthorityDetailOut)
        parent = (
            client.get(f"{API}/{a.parent_id}", AuthorityDetailOut).name if a.parent_id else None
        )
    if as_json:
        emit_json(a.model_dump(mode="json"))
        return
    if pem:
        sys.stdout.write("".join(p if p.endswith("\n") else p + "\n" for p in a.chain_pem))
        return
    print_authority(a, parent)


@authority.command("deactivate")
def deactivate(
    ref: str = typer.Argument(..., metavar="AUTHORITY", help="name or id"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Stop an authority issuing: requests, renewals and CAs below it are refused. Its
    certificates stay valid, and its CRL and OCSP answers keep being served (audited)."""
    with connect(url, token) as client:
        row = client.authority(ref, option="authority")
        a = client.post(f"{API}/{row.id}/deactivate", None, AuthorityDetailOut)
    emit(
        a,
        as_json,
        note=f"authority {a.id} ({escape(a.name)}) is deactivated: it issues no new "
        "certificates; its certificates, CRL and OCSP are unaffected "
        f"(`lemur authority activate {a.id}` undoes it)",
    )


@authority.command("activate")
def activate(
    ref: str = typer.Argument(..., metavar="AUTHORITY", help="name or id"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Let a deactivated authority issue again (audited)."""
    with connect(url, token) as client:
        row = client.authority(ref, option="authority")
        a = client.post(f"{API}/{row.id}/activate", None, AuthorityDetailOut)
    emit(a, as_json, note=f"authority {a.id} ({escape(a.name)}) is active: it issues again")


@authority.command("update")
def update(
    ref: str = typer.Argument(..., metavar="AUTHORITY", help="name or id"),
    description: str | None = typer.Option(None, "--description"),
    option: list[str] | None = option_flag(),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Change an authority's description, or the options of a CA reached through a plugin
    (--option: the options given replace the stored ones; a secret not given is kept). Lemur
    connects with the new options first and keeps the old ones if that fails (audited)."""
    if description is None and not option:
        raise UsageError("nothing to change: give --description or --option")
    with connect(url, token) as client:
        row = client.authority(ref, option="authority")
        body: dict[str, Any] = {}
        if description is not None:
            body["description"] = description
        if option:
            current = client.get(f"{API}/{row.id}", AuthorityDetailOut)
            kept = {
                k: v for k, v in current.options.items() if k != "secrets_set" and v is not None
            }
            schema = plugin(client, "issuer", current.plugin).options_schema
            body["options"] = {**kept, **parse_options(option, schema)}
        with err.status(f"connecting to the CA of {row.name}" if option else "saving"):
            a = client.patch(f"{API}/{row.id}", body, AuthorityDetailOut)
    emit(a, as_json, lambda x: print_authority(x, None), note="updated:")


@authority.command("check")
def check(
    ref: str = typer.Argument(..., metavar="AUTHORITY", help="name or id"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Check the connection to the CA of an authority reached through a plugin (ACME,
    CFSSL, AWS Private CA): what was checked, or why it failed."""
    with connect(url, token) as client:
        row = client.authority(ref, option="authority")
        with err.status(f"connecting to the CA of {row.name}"):
            checked = client.post(f"{API}/{row.id}/check", None, ConnectionCheckOut)
    emit(checked, as_json, note=f"[green]ok[/]: {escape(checked.summary)}")


@authority.command("blast-radius")
def blast_radius(
    ref: str = typer.Argument(..., metavar="AUTHORITY", help="name or id"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Every destination and endpoint serving a certificate this authority issued: what a
    compromise or a re-issue of the CA touches."""
    from lemur.cli.certs.deploy import show_blast
    from lemur.deployments.schemas import BlastRadiusOut

    with connect(url, token) as client:
        row = client.authority(ref, option="authority")
        b = client.get(f"{API}/{row.id}/blast-radius", BlastRadiusOut)
    emit(b, as_json, show_blast)


@authority.command("plugins")
def plugins(url: str | None = URL, token: str | None = TOKEN, as_json: bool = JSON) -> None:
    """The issuer plugins installed, with their options (for --plugin and --option)."""
    with connect(url, token) as client:
        catalog = client.get("/api/v1/plugins", PluginCatalogOut, kind="issuer")

    def show(c: PluginCatalogOut) -> None:
        for p in c.plugins:
            out.print(f"[bold]{escape(p.slug)}[/]: {escape(p.title)}")
            if p.description:
                out.print(Text(f"  {p.description}"))
            rows = describe_options(p)
            if rows:
                table(
                    f"options of {p.slug}",
                    [col("option"), col("what", min_width=30), col("")],
                    rows,
                )
            out.print("")

    emit(catalog, as_json, show)
