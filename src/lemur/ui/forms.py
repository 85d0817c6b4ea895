"""Forms: posted fields into the API's own request models, errors back next to each field,
and form fields generated from a JSON Schema (plugin options).

One source of truth: a page builds the same pydantic model the API does (``parse``), so a
form and the API accept and refuse exactly the same input. Field names are the model's
paths: ``subject_alternative_names.dns_names`` is a textarea with one name per line, a
boolean is a checkbox (with a hidden "false" before it, so that unchecked is sent too).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from lemur.errors import LemurError

M = TypeVar("M", bound=BaseModel)
FORM = ""  # the key of an error about the form as a whole
# The hidden field every form carries: its one-time token (lemur.accounts.submissions).
SUBMISSION_FIELD = "submission"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True)
class Form:
    """A posted form: every value of every field, and the uploaded files' bytes."""

    fields: Mapping[str, list[str]]
    files: Mapping[str, bytes] = field(default_factory=dict)

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[-1] if values else default

    def getlist(self, name: str) -> list[str]:
        return list(self.fields.get(name, ()))

    def lines(self, name: str) -> list[str]:
        """A textarea (or repeated inputs) as its non-empty lines, stripped."""
        return [ln.strip() for v in self.getlist(name) for ln in v.splitlines() if ln.strip()]

    def file_text(self, name: str) -> str | None:
        """An uploaded file as text if it is text (PEM), else None."""
        data = self.files.get(name)
        if not data:
            return None
        try:
            return data.decode()
        except UnicodeDecodeError:
            return None

    @property
    def values(self) -> dict[str, str]:
        """What to put back into the form when it is shown again with errors (last values;
        never a password: inputs of type password are not refilled by the macros)."""
        return {
            k: "\n".join(v) if len(v) > 1 else (v[-1] if v else "") for k, v in self.fields.items()
        }


class FormErrors(dict[str, str]):
    """Field name -> message in plain words. ``FORM`` holds an error about the whole form.

    A field's errors include those of its items (``names[2]``) and members (``subject.c``),
    so an error the API reports for one name of a list shows next to the list's input."""

    def of(self, name: str) -> str | None:
        found = [m for k, m in self.items() if k == name or k.startswith((f"{name}[", f"{name}."))]
        return " ".join(dict.fromkeys(found)) or None

    @classmethod
    def of_error(cls, exc: LemurError) -> FormErrors:
        return cls({exc.field or FORM: exc.message})

    @classmethod
    def of_validation(cls, exc: ValidationError, *, prefix: str = "") -> FormErrors:
        errors = cls()
        for err in exc.errors(include_url=False, include_input=False):
            name = field_name(tuple(err["loc"]), prefix=prefix)
            errors.setdefault(name or FORM, plain_message(err))
        return errors


def field_name(loc: tuple[Any, ...], *, prefix: str = "") -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# pydantic's error types in plain words; the rest keep pydantic's own short message.
_PLAIN = {
    "missing": "This is required.",
    "int_parsing": "Enter a whole number.",
    "int_type": "Enter a whole number.",
    "float_parsing": "Enter a number.",
    "bool_parsing": "Choose yes or no.",
    "extra_forbidden": "This form does not take this field.",
    "greater_than_equal": "Enter {ge} or more.",
    "less_than_equal": "Enter {le} or less.",
    "greater_than": "Enter more than {gt}.",
    "less_than": "Enter less than {lt}.",
    "string_too_long": "Use at most {max_length} characters.",
    "string_too_short": "Use at least {min_length} characters.",
    "too_long": "Give at most {max_length} entries.",
    "too_short": "Give at least {min_length}.",
    "enum": "Choose one of: {expected}.",
    "literal_error": "Choose one of: {expected}.",
}


def plain_message(err: Mapping[str, Any]) -> str:
    template = _PLAIN.get(str(err.get("type")))
    if template is not None:
        try:
            return template.format(**(err.get("ctx") or {}))
        except (KeyError, IndexError):
            pass
    message = str(err.get("msg", "This value is not valid."))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message[:1].upper() + message[1:]


class FormInvalid(Exception):
    """The posted form does not make a valid request: show it again with these errors."""

    def __init__(self, errors: FormErrors) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def parse(model: type[M], form: Form, *, prefix: str = "", extra: Mapping[str, Any] = {}) -> M:
    """The request model from the form's fields (``prefix``: the fields' common prefix),
    with ``extra`` values that do not come from inputs. Raises FormInvalid."""
    data = {**values_for(schema_of(model), form, prefix=prefix), **extra}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FormInvalid(FormErrors.of_validation(exc, prefix=prefix)) from None


@functools.cache
def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schema node with its $ref followed and an optional (anyOf with null) unwrapped."""
    while True:
        if "$ref" in node:
            node = root["$defs"][str(node["$ref"]).rsplit("/", 1)[-1]]
        elif "anyOf" in node:
            options = [o for o in node["anyOf"] if o.get("type") != "null"]
            node = {**{k: v for k, v in node.items() if k != "anyOf"}, **options[0]}
        elif "allOf" in node and len(node["allOf"]) == 1:
            node = {**{k: v for k, v in node.items() if k != "allOf"}, **node["allOf"][0]}
        else:
            return node


def values_for(
    schema: Mapping[str, Any],
    form: Form,
    *,
    prefix: str = "",
    root: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON value a form's fields make for ``schema`` (an object); fields left empty are
    left out, so the model's defaults apply."""
    root = root or schema
    out: dict[str, Any] = {}
    for key, raw in _resolve(schema, root).get("properties", {}).items():
        prop = _resolve(raw, root)
        name = f"{prefix}{key}"
        kind = prop.get("type")
        if kind == "object" and "properties" in prop:
            nested = values_for(prop, form, prefix=f"{name}.", root=root)
            if nested:
                out[key] = nested
        elif kind == "array":
            if name in form.fields:
                out[key] = form.lines(name)
        elif kind == "boolean":
            if name in form.fields:
                out[key] = form.get(name).lower() in ("true", "on", "1", "yes")
        else:
            value = form.get(name)
            if value.strip():
                out[key] = value.strip() if prop.get("format") != "password" else value
    return out


@dataclass(frozen=True)
class SchemaField:
    """One input of a form generated from a JSON Schema (macros.html ``schema_fields``)."""

    name: str
    label: str
    help: str
    kind: str  # text | password | number | checkbox | select | textarea | list
    required: bool
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    # A secret (writeOnly or format password): never refilled, empty keeps the stored one.
    # Usually a password input; a textarea when it holds PEM (a key pasted with its lines).
    secret: bool = False


def schema_fields(schema: Mapping[str, Any], *, prefix: str = "options.") -> list[SchemaField]:
    """The inputs for a JSON Schema object (a plugin's options): secrets become password
    inputs that are never refilled, enums selects, lists textareas with one item per line,
    nested objects their members with dotted names."""
    return list(_fields(schema, schema, prefix))


def _fields(
    schema: Mapping[str, Any], root: Mapping[str, Any], prefix: str
) -> Iterable[SchemaField]:
    node = _resolve(schema, root)
    required = set(node.get("required", ()))
    for key, raw in node.get("properties", {}).items():
        prop = _resolve(raw, root)
        name = f"{prefix}{key}"
        kind = prop.get("type")
        if kind == "object" and "properties" in prop:
            yield from _fields(prop, root, f"{name}.")
            continue
        secret = bool(prop.get("writeOnly") or prop.get("format") == "password")
        if kind == "string" and _holds_pem(prop):
            widget = "textarea"  # a single-line input would drop the PEM's line breaks
        elif secret:
            widget = "password"
        elif "enum" in prop:
            widget = "select"
        elif kind == "boolean":
            widget = "checkbox"
        elif kind in ("integer", "number"):
            widget = "number"
        elif kind == "array":
            widget = "list"
        elif (prop.get("maxLength") or 0) > 1000:
            widget = "textarea"
        else:
            widget = "text"
        yield SchemaField(
            name=name,
            label=str(prop.get("title") or key.replace("_", " ").capitalize()),
            help=str(prop.get("description") or ""),
            kind=widget,
            required=key in required,
            default=prop.get("default"),
            choices=tuple(str(c) for c in prop.get("enum", ())),
            minimum=prop.get("minimum"),
            maximum=prop.get("maximum"),
            secret=secret,
        )


def _holds_pem(prop: Mapping[str, Any]) -> bool:
    """A text option that takes PEM (a CA bundle, a private key): its title or description
    says so. Browsers strip line breaks from single-line inputs, and PEM needs them."""
    said = f"{prop.get('title') or ''} {prop.get('description') or ''}"
    return re.search(r"\bPEM\b", said) is not None
