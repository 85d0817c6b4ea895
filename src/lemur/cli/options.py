"""Options shared by several commands, and the rule every whole-number option follows: it
has a range, taken from the API schema that will check the value where there is one, so a
value the server would refuse (or that would overflow a date) is refused before anything
is sent or written, as invalid input (exit 3) naming the option and its range."""

from __future__ import annotations

from typing import Any

import typer
from pydantic import BaseModel

from lemur.ids import MAX_ID


def bounds(model: type[BaseModel], name: str) -> tuple[int, int]:
    """The ``ge``/``le`` bounds of a schema's integer field."""
    low: int | None = None
    high: int | None = None
    for rule in model.model_fields[name].metadata:
        low = getattr(rule, "ge", low)
        high = getattr(rule, "le", high)
    if low is None or high is None:
        raise TypeError(f"{model.__name__}.{name} has no ge/le bounds")
    return low, high


def ranged(
    default: Any,
    *flags: str,
    within: tuple[int, int],
    help: str,
    metavar: str | None = None,
) -> Any:
    """A whole-number option limited to ``within`` (both ends included)."""
    low, high = within
    return typer.Option(default, *flags, min=low, max=high, help=help, metavar=metavar)


def record_id(what: str = "certificate") -> Any:
    """The id argument of a command: an id the API can hold (1 .. 2^31-1)."""
    return typer.Argument(..., metavar="ID", min=1, max=MAX_ID, help=f"the {what}'s id")
