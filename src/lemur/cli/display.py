"""Helpers shared by the developer commands (``lemur cert``, ``lemur authority``): rendering
API answers for people, and reading files and passphrases for the API."""

from __future__ import annotations

import base64
import datetime as dt
import getpass
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lemur.cli.output import out
from lemur.errors import InvalidInput


class HasKey(Protocol):
    @property
    def key_type(self) -> str | None: ...

    @property
    def key_size(self) -> int | None: ...


def utc(moment: dt.datetime | None) -> str:
    """An API timestamp as ``YYYY-MM-DD HH:MM UTC``."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def day(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if moment else ""


def fields(rows: Sequence[tuple[str, Any]]) -> None:
    """Print label/value pairs, one per line; values are plain text (never rich markup)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        if value is None or value == "" or value == []:
            continue
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        grid.add_row(label, Text(text))
    out.print(grid)


def section(title: str) -> None:
    out.print()
    out.print(f"[bold]{escape(title)}[/]")


def key_label(item: HasKey) -> str:
    kind, size = item.key_type, item.key_size
    if not kind:
        return ""
    return f"{kind} {size}" if size else str(kind)


def serial_hex(value: str) -> str:
    """Lowercase hex as colon-separated byte pairs, as browsers and openssl show it."""
    digits = value if len(value) % 2 == 0 else "0" + value
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def status_text(status: str) -> Text:
    style = {"valid": "green", "expiring": "yellow", "revoked": "bold red", "expired": "red"}
    return Text(status, style=style.get(status, ""))


def read_passphrase(prompt: str) -> str:
    """A passphrase from standard input: the first line of a pipe, or typed at a terminal
    without echo. Never from argv (which ``ps`` and shell history show)."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\r\n")


def material(path: Path, *, field: str) -> str:
    """A file for the API: PEM as text, binary (DER, PKCS#12) as base64."""
    data = path.read_bytes()
    if not data.strip():
        raise InvalidInput(f"{path} is empty", code="empty_input", field=field)
    if b"-----BEGIN" in data:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("latin-1")
    return base64.b64encode(data).decode("ascii")
