"""Rendering for the CLI: rich tables for people, JSON for scripts, stable exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from lemur.errors import (
    AuthenticationRequired,
    BadRequest,
    ConfigurationError,
    Conflict,
    InvalidInput,
    LemurError,
    NotFound,
    PermissionDenied,
)

out = Console()
err = Console(stderr=True)

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_NOT_FOUND = 4
EXIT_CONFLICT = 5
EXIT_DENIED = 6
EXIT_CONFIG = 7
EXIT_ERROR = 8


def exit_code_for(exc: LemurError) -> int:
    if isinstance(exc, InvalidInput | BadRequest):
        return EXIT_INVALID
    if isinstance(exc, NotFound):
        return EXIT_NOT_FOUND
    if isinstance(exc, Conflict):
        return EXIT_CONFLICT
    if isinstance(exc, AuthenticationRequired | PermissionDenied):
        return EXIT_DENIED
    if isinstance(exc, ConfigurationError):
        return EXIT_CONFIG
    return EXIT_ERROR


def print_error(exc: LemurError, *, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"error": exc.to_dict()}) + "\n")
    else:
        where = f" \\[{exc.field}]" if exc.field else ""
        err.print(f"[bold red]error[/]{where}: {exc.message} [dim]({exc.code})[/]", highlight=False)


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    t = Table(title=title, header_style="bold", show_lines=False)
    for column in columns:
        t.add_column(column)
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    out.print(t)
    if not rows:
        out.print("[dim](none)[/]")


def when(value: Any) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")
