"""Range checks for integer options that fail as invalid input (exit 3) with the option's
name, like the API's 422, rather than as a usage error or a traceback further on."""

from __future__ import annotations

from collections.abc import Callable

from lemur.errors import InvalidInput


def within(low: int, high: int, option: str) -> Callable[[int | None], int | None]:
    """A typer callback refusing values outside ``low..high`` (None passes: not given)."""

    def check(value: int | None) -> int | None:
        if value is not None and not low <= value <= high:
            raise InvalidInput(
                f"{option} must be between {low} and {high}, not {value}",
                code="out_of_range",
                field=option,
            )
        return value

    return check
