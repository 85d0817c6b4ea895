"""The one rule for text that comes from outside: which characters a string input may hold.

Every string a request carries (JSON body fields, query parameters, form fields) is one of
four kinds, each an annotated type used by the request models and parameters:

- :data:`Line`: a single line (names, common names, subject fields, usernames, token names,
  emails, search filters). No control character at all: C0 (U+0000-U+001F), DEL (U+007F)
  and C1 (U+0080-U+009F). A CR or LF in a name ends up in a certificate, a log line or a
  header (``x\\r\\nSet-Cookie: ...``); NUL cannot be stored by PostgreSQL.
- :data:`Text`: free text over several lines (descriptions): as ``Line`` but LF and TAB
  are allowed. CR is refused, so that a stored description has one line-break convention.
- :data:`PEMText`: PEM or base64 material (certificate, chain, CSR, private key): as
  ``Line`` but CR, LF and TAB are allowed, as PEM files from any system carry them.
- :data:`SecretLine` / :data:`PasswordLine`: passphrases and passwords; as ``Line``, and
  the message never quotes the value or the position.

Everywhere, a lone surrogate (U+D800-U+DFFF, which JSON's ``\\ud800`` escape can produce)
is refused too: it is not a character and no database can encode it.

A refused value is a validation error of type ``invalid_character``, rendered as 422 with
the field that holds it. The HTTP edge (lemur.web.limits.InputGuard) also refuses NUL in
any query parameter, form field or JSON string, so a parameter that misses its annotation
still cannot carry one to the database.

Declare parameters as ``Annotated[Line, Query(...)]`` (or ``Line | None = Query(...)``):
written ``x: Line = Query(...)``, FastAPI drops the validator. tests/api/test_input.py
checks every route's parameters for that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator, SecretStr
from pydantic_core import PydanticCustomError

from lemur.errors import InvalidInput

CODE = "invalid_character"
_SURROGATES = "\ud800-\udfff"
_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_SURROGATES}]")
_TEXT = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_SURROGATES}]")
_PEM = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_SURROGATES}]")


def _describe(char: str) -> str:
    names = {"\x00": "NUL", "\r": "CR", "\n": "LF", "\t": "TAB", "\x7f": "DEL"}
    code = f"U+{ord(char):04X}"
    return f"{code} ({names[char]})" if char in names else code


def first_refused(value: str, pattern: re.Pattern[str]) -> tuple[int, str] | None:
    found = pattern.search(value)
    return (found.start(), found.group()) if found else None


def _rule(pattern: re.Pattern[str], allowed: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        found = first_refused(value, pattern)
        if found is not None:
            position, char = found
            raise PydanticCustomError(
                CODE,
                "contains the control character {char} at position {position}; {allowed}",
                {"char": _describe(char), "position": position, "allowed": allowed},
            )
        return value

    return check


check_line = _rule(_LINE, "this field takes a single line of printable text")
check_text = _rule(_TEXT, "line breaks must be LF (\\n); other control characters are refused")
check_pem = _rule(_PEM, "PEM or base64 text may hold line breaks but no other control characters")


def _refuse_secret(plain: str) -> None:
    if first_refused(plain, _LINE) is not None:
        raise PydanticCustomError(
            CODE, "contains a control character; use printable characters only", {}
        )


def check_secret(value: SecretStr) -> SecretStr:
    _refuse_secret(value.get_secret_value())
    return value


def check_secret_str(value: str) -> str:
    _refuse_secret(value)
    return value


def _require(value: str, pattern: re.Pattern[str], field: str, allowed: str) -> str:
    found = first_refused(value, pattern)
    if found is not None:
        position, char = found
        raise InvalidInput(
            f"{field} contains the control character {_describe(char)} at position {position}; "
            f"{allowed}",
            code=CODE,
            field=field,
        )
    return value


def require_line(value: str, *, field: str) -> str:
    """The single-line rule for services that also take input outside HTTP (the CLI, names
    read from a CSR). Raises InvalidInput (``invalid_character``) naming ``field``."""
    return _require(value, _LINE, field, "use a single line of printable text")


def require_text(value: str, *, field: str) -> str:
    """The multi-line rule (LF and TAB allowed), as :func:`require_line`."""
    return _require(value, _TEXT, field, "line breaks must be LF; no other control characters")


Line = Annotated[str, AfterValidator(check_line)]
Text = Annotated[str, AfterValidator(check_text)]
PEMText = Annotated[str, AfterValidator(check_pem)]
SecretLine = Annotated[SecretStr, AfterValidator(check_secret)]
# Passwords kept as plain strings (form fields, and bodies whose handlers take a str).
PasswordLine = Annotated[str, AfterValidator(check_secret_str)]

RULES: frozenset[Callable[..., object]] = frozenset(
    {check_line, check_text, check_pem, check_secret, check_secret_str}
)
