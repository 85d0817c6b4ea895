"""The contract of a plugin class as the registry and the UI see it."""

from __future__ import annotations

import importlib.metadata
import json
import re
from typing import Any, ClassVar

import pytest
from pydantic import BaseModel, ValidationError

from lemur.plugins.base import ENTRY_POINT_GROUPS, KINDS, Plugin
from lemur.plugins.options import dump_options, load_options, options_schema, secret_paths
from lemur.plugins.registry import SLUG_PATTERN, check_plugin_class

_SECRET_NAME = re.compile(r"(password|passphrase|secret|token|api_?key|private_?key|credential)")


class PluginClassContract:
    """Checks a plugin class as the registry and the UI see it.

    Fixtures to provide: ``plugin_class``. Optional: ``plugin_options`` (a dict of valid
    options, secrets included, for the storage round trip; default: the options' defaults,
    and the test is skipped when some option is required).

    ``not_secret_fields``: option names that look like secrets (``token_url``) but are not.
    A plugin not installed as a package in your tests has no entry point: leave that check
    out with ``test_registered_as_entry_point = None`` in your subclass.
    """

    not_secret_fields: ClassVar[frozenset[str]] = frozenset()

    @pytest.fixture
    def plugin_options(self) -> dict[str, Any] | None:
        return None

    def test_slug_is_kebab_case(self, plugin_class: type[Plugin[Any]]) -> None:
        assert SLUG_PATTERN.match(plugin_class.slug), f"slug {plugin_class.slug!r}"

    def test_title_is_present(self, plugin_class: type[Plugin[Any]]) -> None:
        assert isinstance(plugin_class.title, str)
        assert plugin_class.title.strip()

    def test_is_a_concrete_plugin_of_its_kind(self, plugin_class: type[Plugin[Any]]) -> None:
        assert plugin_class.kind in KINDS, f"kind {plugin_class.kind!r}"
        assert check_plugin_class(plugin_class.kind, plugin_class.slug, plugin_class)

    def test_options_schema_renders(self, plugin_class: type[Plugin[Any]]) -> None:
        assert issubclass(plugin_class.Options, BaseModel)
        schema = json.loads(json.dumps(options_schema(plugin_class.Options)))
        assert schema["type"] == "object"

    def test_secret_fields_are_write_only(self, plugin_class: type[Plugin[Any]]) -> None:
        raw = plugin_class.Options.model_json_schema()
        for path in secret_paths(plugin_class.Options):
            node = _schema_node(raw, path)
            assert node is None or node.get("writeOnly") is True, f"{path} is not writeOnly"
        secrets = set(secret_paths(plugin_class.Options))
        for path in _property_paths(options_schema(plugin_class.Options)):
            name = path.rsplit(".", 1)[-1].removesuffix("[]").lower()
            if _SECRET_NAME.search(name) and name not in self.not_secret_fields:
                assert {path, f"{path}[]", f"{path}.*"} & secrets, (
                    f"option {path!r} looks like a secret; declare it SecretStr so it is "
                    "stored encrypted and never returned (or list it in not_secret_fields)"
                )

    def test_options_survive_encrypted_storage(
        self, plugin_class: type[Plugin[Any]], plugin_options: dict[str, Any] | None
    ) -> None:
        try:
            options = plugin_class.Options.model_validate(plugin_options or {})
        except ValidationError:
            pytest.skip("give a plugin_options fixture with valid options")
        vault: dict[str, bytes] = {}

        def encrypt(plaintext: bytes) -> str:
            vault[f"ct-{len(vault)}"] = plaintext
            return f"ct-{len(vault) - 1}"

        stored = dump_options(options, encrypt)
        text = json.dumps(stored)
        for plaintext in vault.values():
            assert plaintext.decode("utf-8", "replace") not in text
        assert load_options(plugin_class.Options, stored, vault.__getitem__) == options

    def test_registered_as_entry_point(self, plugin_class: type[Plugin[Any]]) -> None:
        group = ENTRY_POINT_GROUPS[plugin_class.kind]
        named = [
            ep
            for ep in importlib.metadata.entry_points(group=group)
            if ep.name == plugin_class.slug
        ]
        assert named, f"no entry point {plugin_class.slug!r} in group {group!r}"
        assert any(ep.load() is plugin_class for ep in named)


def _schema_node(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    node: Any = schema
    for part in path.replace("[]", ".[]").split("."):
        if not isinstance(node, dict):
            return None
        ref = node.get("$ref")
        if isinstance(ref, str):
            node = schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
        if part == "[]":
            node = node.get("items")
        elif part == "*":
            node = node.get("additionalProperties")
        else:
            node = node.get("properties", {}).get(part)
    if isinstance(node, dict) and "anyOf" in node:
        node = next((o for o in node["anyOf"] if o.get("format") == "password"), node)
    return node if isinstance(node, dict) else None


def _property_paths(schema: dict[str, Any]) -> list[str]:
    defs = schema.get("$defs", {})
    out: list[str] = []

    def walk(node: Any, path: str, depth: int) -> None:
        if not isinstance(node, dict) or depth > 20:
            return
        if isinstance(node.get("$ref"), str):
            walk(defs.get(node["$ref"].removeprefix("#/$defs/")), path, depth + 1)
        for option in node.get("anyOf", []):
            walk(option, path, depth + 1)
        for name, sub in (node.get("properties") or {}).items():
            child = f"{path}.{name}" if path else name
            out.append(child)
            walk(sub, child, depth + 1)
        if "items" in node:
            walk(node["items"], f"{path}[]", depth + 1)

    walk(schema, "", 0)
    return out
