"""lemur cert export: a certificate, its chain or its key, to a file or standard output."""

from __future__ import annotations

import base64
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from lemur.catalog.schemas import PluginCatalogOut, PluginOut
from lemur.cli.certs.common import API
from lemur.cli.client import JSON, TOKEN, URL, LemurClient, connect
from lemur.cli.display import read_passphrase
from lemur.cli.options import record_id
from lemur.cli.output import emit_json, err
from lemur.errors import InvalidInput


def exporters(client: LemurClient) -> dict[str, PluginOut]:
    catalog = client.get("/api/v1/plugins", PluginCatalogOut, kind="exporter")
    return {p.slug: p for p in catalog.plugins}


def write_file(path: Path, content: bytes, *, secret: bool) -> None:
    """Write ``content``; a file holding a private key is created (or left) readable by its
    owner only, and never passes through a moment with a wider mode.

    Raises InvalidInput naming ``--out`` when the file cannot be written."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
    except OSError as exc:
        raise InvalidInput(
            f"cannot write {path}: {exc.strerror}", code="output_unwritable", field="out"
        ) from exc
    try:
        if secret:
            os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
        os.write(fd, content)
    finally:
        os.close(fd)


def _text_format(fmt: str, plugin: PluginOut) -> bool:
    """PEM formats are text; the exporter's slug or title says so (DER, PKCS#7/#12 do not)."""
    return "pem" in fmt or "PEM" in plugin.title


def export(
    certificate_id: int = record_id(),
    fmt: str = typer.Option(
        "pem-bundle",
        "--format",
        help="pem-bundle, pem-certificate, pem-chain, der-certificate, pkcs7-bundle, "
        "jks-truststore, pkcs8-key, pkcs12, jks (see GET /api/v1/plugins)",
    ),
    out_path: Path | None = typer.Option(None, "--out", "-o", dir_okay=False, help="file to write"),
    passphrase_stdin: bool = typer.Option(
        False,
        help="read the passphrase for a key format (pkcs12, jks, pkcs8-key) from standard input",
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
                f"unknown export format '{fmt}' at {client.url} "
                f"(formats: {', '.join(sorted(known))})",
                code="unknown_format",
                field="format",
            )
        plugin = known[fmt]
        with_key = bool(plugin.includes_private_key)
        if passphrase_stdin and not with_key:
            raise typer.BadParameter(
                f"'{fmt}' holds no private key, so it takes no passphrase",
                param_hint="--passphrase-stdin",
            )
        if with_key and plugin.needs_passphrase and not passphrase_stdin:
            raise InvalidInput(
                f"'{fmt}' needs a passphrase: pass --passphrase-stdin and give it on standard input",
                code="passphrase_required",
                field="passphrase",
            )
        binary_to_terminal = out_path is None and not as_json and sys.stdout.isatty()
        if binary_to_terminal and not _text_format(fmt, plugin):
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
    summary: dict[str, Any] = {
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
