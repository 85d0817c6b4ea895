"""Plugin options on the command line: ``--option name=value`` (repeatable; a JSON value
such as 53, true or ["a"] is taken as JSON, anything else as text; ``name=@FILE`` reads the
file, for PEM bundles and keys), and prompts, from the plugin's JSON Schema, for the required
options not given (secrets without echo) when standard input is a terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from lemur.catalog.schemas import PluginCatalogOut, PluginOut
from lemur.cli.client import LemurClient
from lemur.cli.output import UsageError

OPTION_HELP = (
    "a plugin option as NAME=VALUE (repeatable; JSON values such as 53 or true are typed, "
    "NAME=@FILE reads a file); `lemur authority plugins` lists each plugin's options"
)


def option_flag() -> Any:
    return typer.Option(None, "--option", "-o", help=OPTION_HELP, metavar="NAME=VALUE")


def _is_text(schema: dict[str, Any] | None, name: str) -> bool:
    """Whether the option ``name`` is text in the plugin's schema (then an all-digit key
    such as an HMAC key in hex stays text)."""
    prop = _properties(schema or {}).get(name, {})
    kinds = {prop.get("type")} | {
        o.get("type") for o in prop.get("anyOf", []) if isinstance(o, dict)
    }
    return "string" in kinds and not kinds & {"integer", "number", "boolean", "array"}


def parse_options(pairs: list[str] | None, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """``--option`` values as a dict, typed by the plugin's ``schema`` where it says an
    option is text. Raises UsageError naming a malformed pair."""
    options: dict[str, Any] = {}
    for pair in pairs or []:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--option takes NAME=VALUE, not {pair[:40]!r}")
        if raw.startswith("@"):
            path = Path(raw[1:])
            try:
                options[name] = path.read_text()
            except OSError as exc:
                raise UsageError(f"--option {name}: cannot read {path}: {exc.strerror}") from exc
            continue
        if _is_text(schema, name):
            options[name] = raw
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        # Only typed scalars and lists: a bare word stays text even if it is JSON-ish.
        options[name] = value if isinstance(value, bool | int | float | list) else raw
    return options


def plugin(client: LemurClient, kind: str, slug: str) -> PluginOut:
    """The installed plugin ``slug`` of ``kind``. Raises UsageError listing the others."""
    catalog = client.get("/api/v1/plugins", PluginCatalogOut, kind=kind)
    for found in catalog.plugins:
        if found.slug == slug:
            return found
    known = ", ".join(p.slug for p in catalog.plugins) or "none"
    raise UsageError(f"no {kind} plugin '{slug}' is installed (installed: {known})")


def _properties(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    props = schema.get("properties")
    return props if isinstance(props, dict) else {}


def prompt_missing(found: PluginOut, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with every required option the user left out asked for, when standard
    input is a terminal (the server names what is still missing otherwise)."""
    schema = found.options_schema
    required = [n for n in schema.get("required", []) if n not in options]
    if not required or not sys.stdin.isatty():
        return options
    props = _properties(schema)
    completed = dict(options)
    for name in required:
        prop = props.get(name, {})
        title = prop.get("title") or name
        hint = prop.get("description")
        secret = bool(prop.get("writeOnly"))
        label = f"{title} ({name})" + (f": {hint}" if hint else "")
        value = typer.prompt(label, hide_input=secret)
        completed[name] = value
    return completed


def describe_options(found: PluginOut) -> list[tuple[str, str, str]]:
    """(name, what, required/secret/default) of each option, for `plugins` listings."""
    schema = found.options_schema
    required = set(schema.get("required", []))
    rows = []
    for name, prop in _properties(schema).items():
        marks = []
        if name in required:
            marks.append("required")
        if prop.get("writeOnly"):
            marks.append("secret")
        if "default" in prop and prop["default"] is not None:
            marks.append(f"default {json.dumps(prop['default'])}")
        rows.append(
            (name, str(prop.get("description") or prop.get("title") or ""), ", ".join(marks))
        )
    return rows
