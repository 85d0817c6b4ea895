"""What the ``lemur cert`` commands share: the API's path and how an issued certificate is
summarised."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from lemur.certificates.schemas import CertificateOut
from lemur.cli.display import fields, key_label, serial_hex, utc
from lemur.cli.output import out

API = "/api/v1/certificates"


def existing_file(help_text: str) -> Any:
    return typer.Option(None, exists=True, dir_okay=False, readable=True, help=help_text)


def print_issued(item: CertificateOut, verb: str) -> None:
    out.print(f"{verb} certificate [bold]{item.id}[/]: {escape(item.common_name or '')}")
    fields(
        [
            ("names", item.names),
            ("team", item.team.name if item.team else None),
            ("authority", item.authority.name if item.authority else None),
            ("serial", serial_hex(item.serial_number)),
            ("expires", utc(item.not_after)),
            ("key", key_label(item) + ("" if item.has_private_key else " (no key in Lemur)")),
        ]
    )
