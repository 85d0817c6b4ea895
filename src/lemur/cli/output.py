"""Rendering for the CLI: rich tables for people, JSON for scripts, stable exit codes."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

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

T = TypeVar("T")

# soft_wrap: messages are left to the terminal to wrap, never broken at 80 columns in a pipe.
out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_INVALID = 3
EXIT_NOT_FOUND = 4
EXIT_CONFLICT = 5
EXIT_DENIED = 6
EXIT_CONFIG = 7
EXIT_ERROR = 8


class UsageError(LemurError):
    """The command cannot run as it was given (exit 2), e.g. a confirmation it has no
    terminal to ask on, or an option it does not know."""

    status = 400
    default_code = "usage_error"


class Cancelled(LemurError):
    """The user answered no, or interrupted a prompt (exit 8): nothing was changed."""

    status = 400
    default_code = "cancelled"


def exit_code_for(exc: LemurError) -> int:
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    if isinstance(exc, Cancelled):
        return EXIT_ERROR
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
        # Messages echo user input (names, paths): print it verbatim, never as markup.
        where = f" \\[{escape(exc.field)}]" if exc.field else ""
        err.print(f"[bold red]error[/]{where}: {escape(exc.message)} [dim]({escape(exc.code)})[/]")


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def jsonable(data: Any) -> Any:
    """An API answer (a schema, or a list of them) as plain JSON values."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [jsonable(d) for d in data]
    return data


def emit(
    data: T,
    as_json: bool,
    show: Callable[[T], object] | None = None,
    *,
    note: str | None = None,
) -> None:
    """Print a command's answer: with ``--json`` the data as JSON (for scripts), else the
    line ``note`` (markup) if given, then the human view ``show(data)`` if given."""
    if as_json:
        emit_json(jsonable(data))
        return
    if note is not None:
        out.print(note)
    if show is not None:
        show(data)


def more(next_cursor: str | None) -> None:
    """Say how to ask for the next page of a list, if there is one."""
    if next_cursor:
        out.print(f"more: --cursor {next_cursor}")


def col(
    header: str, *, fixed: bool = False, right: bool = False, min_width: int | None = None
) -> Column:
    """A table column. ``fixed`` columns (times, ids, states: short values of a known
    width) never wrap; the others wrap at spaces and fold long words onto more lines
    instead of cutting them off, but keep at least ``min_width`` (default: the header's
    width). Anything a user named (certificates, teams, descriptions) goes in the others."""
    return Column(
        header,
        no_wrap=fixed,
        overflow="ellipsis" if fixed else "fold",
        justify="right" if right else "left",
        min_width=None if fixed else (min_width or min(len(header), 8)),
    )


def time_col(header: str, *, seconds: bool = False) -> Column:
    """A UTC time column: one line where there is room, else date over time (never split
    inside the date or the time)."""
    wide = 19 if seconds else 16
    if out.width >= 60 + wide:
        return col(header, fixed=True)
    return col(header, min_width=10)


def table(
    title: str | None,
    columns: Sequence[str | Column],
    rows: Sequence[Sequence[Any]],
    *,
    drop_empty: Sequence[str] = (),
) -> None:
    """Print rows as a table. Columns named in ``drop_empty`` are left out when no row has
    a value in them, which leaves more room for the others in narrow terminals."""
    headers = [c if isinstance(c, Column) else col(c) for c in columns]
    cells = [
        # Values are text, never markup: a name like "[red]x" prints as typed.
        [v if isinstance(v, Text) else Text("" if v is None else str(v)) for v in row]
        for row in rows
    ]
    keep = [
        i
        for i, h in enumerate(headers)
        if str(h.header) not in drop_empty or any(row[i].plain for row in cells)
    ]
    t = Table(
        *(headers[i] for i in keep),
        title=title,
        title_justify="left",
        title_style="bold",
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
    )
    for row in cells:
        t.add_row(*(row[i] for i in keep))
    out.print(t)
    if not rows:
        out.print("[dim](none)[/]")


def when(value: Any, *, seconds: bool = False) -> str:
    """A UTC time as ``YYYY-MM-DD HH:MM[:SS]``; the column header says it is UTC."""
    if value is None:
        return ""
    return str(value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"))


def outcome(value: str) -> Text:
    return Text(value, style="green" if value == "success" else "bold red")
