"""Plugin options: validation, JSON Schema, and storage with secrets encrypted.

A plugin's ``Options`` is a pydantic model. Fields typed ``SecretStr`` or ``SecretBytes``
(at any depth: nested models, lists, dict values) are secrets:

- :func:`dump_options` gives the dict to store; each secret becomes
  ``{"$encrypted": "<ciphertext>"}`` (``SecretBytes`` adds ``"type": "bytes"`` so it
  decrypts back to bytes, not text). The plaintext never appears in the dict.
- :func:`load_options` reverses it with the key ring's ``decrypt``.
- :func:`public_options` is what the API returns: every secret replaced by ``None`` and the
  dotted paths of the secrets that are set listed under ``"secrets_set"``.
- :func:`options_schema` is the JSON Schema that renders the UI form, with every secret
  marked ``writeOnly`` (and ``format: password``) so forms never prefill it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError
from pydantic_core import to_jsonable_python

from lemur.errors import InvalidInput
from lemur.plugins.errors import PluginConfigurationError

ModelT = TypeVar("ModelT", bound=BaseModel)

ENCRYPTED = "$encrypted"
JSONValue = None | bool | int | float | str | list["JSONValue"] | dict[str, "JSONValue"]


def _path(loc: tuple[int | str, ...], prefix: str) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe_validation_error(exc: ValidationError, *, prefix: str = "options") -> tuple[str, str]:
    """``(field, message)`` for the first error, the field as ``options.a.b[0]``.

    Uses pydantic's short ``msg`` only: ``str(exc)`` would echo the input value, which may
    be a secret."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    field = _path(tuple(first["loc"]), prefix)
    message = f"{field}: {first['msg']}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return field, message


def validate_options(model_cls: type[ModelT], data: object) -> ModelT:
    """Validate user input for a plugin's options.

    Raises InvalidInput(invalid_plugin_options) whose field names the option, e.g.
    ``options.port``."""
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        field, message = describe_validation_error(exc)
        raise InvalidInput(message, code="invalid_plugin_options", field=field) from exc


def _dump(value: object, encrypt: Callable[[bytes], str], path: str) -> JSONValue:
    if isinstance(value, SecretStr):
        return {ENCRYPTED: encrypt(value.get_secret_value().encode("utf-8"))}
    if isinstance(value, SecretBytes):
        return {ENCRYPTED: encrypt(value.get_secret_value()), "type": "bytes"}
    if isinstance(value, BaseModel):
        return {
            name: _dump(getattr(value, name), encrypt, f"{path}.{name}")
            for name in type(value).model_fields
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_dump(item, encrypt, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        if ENCRYPTED in value:
            # On load this dict would be taken for a stored secret.
            raise InvalidInput(
                f"the key '{ENCRYPTED}' is reserved", code="invalid_plugin_options", field=path
            )
        return {str(k): _dump(v, encrypt, f"{path}.{k}") for k, v in value.items()}
    dumped: JSONValue = to_jsonable_python(value)
    return dumped


def dump_options(model: BaseModel, encrypt: Callable[[bytes], str]) -> dict[str, JSONValue]:
    """The JSON-ready dict to store, with every secret encrypted by ``encrypt``.

    Keys are field names (not aliases), so :func:`load_options` validates by name."""
    return {
        name: _dump(getattr(model, name), encrypt, f"options.{name}")
        for name in type(model).model_fields
    }


def _is_encrypted(value: Mapping[str, object]) -> bool:
    return ENCRYPTED in value and set(value) <= {ENCRYPTED, "type"}


def _load(value: object, decrypt: Callable[[str], bytes]) -> object:
    if isinstance(value, Mapping):
        if _is_encrypted(value):
            token = value[ENCRYPTED]
            if not isinstance(token, str):
                raise PluginConfigurationError(
                    "a stored secret option is corrupt", code="stored_options_invalid"
                )
            plaintext = decrypt(token)
            return plaintext if value.get("type") == "bytes" else plaintext.decode("utf-8")
        return {k: _load(v, decrypt) for k, v in value.items()}
    if isinstance(value, list):
        return [_load(item, decrypt) for item in value]
    return value


def load_options(
    model_cls: type[ModelT], stored: Mapping[str, object], decrypt: Callable[[str], bytes]
) -> ModelT:
    """Rebuild the options model from what :func:`dump_options` stored.

    Raises PluginConfigurationError(stored_options_invalid) when the stored options no
    longer validate (for example a plugin upgrade added a required option); decryption
    errors from ``decrypt`` propagate."""
    data = _load(stored, decrypt)
    try:
        return model_cls.model_validate(data, by_name=True)
    except ValidationError as exc:
        field, message = describe_validation_error(exc)
        raise PluginConfigurationError(
            f"the stored options no longer fit the plugin; edit them ({message})",
            code="stored_options_invalid",
            field=field,
        ) from exc


def _public(value: object, path: str, secrets: list[str]) -> JSONValue:
    if isinstance(value, SecretStr | SecretBytes):
        secrets.append(path)
        return None
    if isinstance(value, BaseModel):
        return {
            name: _public(getattr(value, name), f"{path}.{name}" if path else name, secrets)
            for name in type(value).model_fields
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_public(item, f"{path}[{i}]", secrets) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return {str(k): _public(v, f"{path}.{k}", secrets) for k, v in value.items()}
    public: JSONValue = to_jsonable_python(value)
    return public


def public_options(model: BaseModel) -> dict[str, JSONValue]:
    """The options as the API shows them: secrets are ``None``; ``"secrets_set"`` lists the
    paths (``password``, ``auth.token``) of the secrets that have a value."""
    secrets: list[str] = []
    shown = _public(model, "", secrets)
    assert isinstance(shown, dict)
    shown["secrets_set"] = list(secrets)
    return shown


def secret_paths(model_cls: type[BaseModel]) -> list[str]:
    """Paths of the secret properties in the model's JSON Schema (``auth.token``,
    ``keys[]``), found through ``format: password`` which pydantic gives every secret."""
    return _secret_paths(options_schema(model_cls))


def _secret_paths(schema: dict[str, object]) -> list[str]:
    defs = schema.get("$defs", {})
    assert isinstance(defs, dict)
    found: list[str] = []

    def walk(node: object, path: str, depth: int) -> None:
        if not isinstance(node, dict) or depth > 20:
            return
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            walk(defs.get(ref.removeprefix("#/$defs/")), path, depth + 1)
        if node.get("format") == "password":
            found.append(path)
            return
        for key in ("anyOf", "oneOf", "allOf"):
            for option in node.get(key, []) or []:
                walk(option, path, depth + 1)
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name, sub in properties.items():
                walk(sub, f"{path}.{name}" if path else name, depth + 1)
        if "items" in node:
            walk(node["items"], f"{path}[]", depth + 1)
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], f"{path}.*", depth + 1)

    walk(schema, "", 0)
    return sorted(set(found))


def _mark_write_only(node: object) -> None:
    if isinstance(node, dict):
        if node.get("format") == "password":
            node["writeOnly"] = True
        for value in node.values():
            _mark_write_only(value)
    elif isinstance(node, list):
        for value in node:
            _mark_write_only(value)


def options_schema(model_cls: type[BaseModel]) -> dict[str, object]:
    """The options' JSON Schema (draft 2020-12, as pydantic renders it for validation).

    pydantic already marks ``SecretStr``/``SecretBytes`` as ``format: password`` and
    ``writeOnly``; this makes sure of the latter for every such node, nested ones included,
    so a UI never shows or prefills a secret."""
    schema: dict[str, object] = model_cls.model_json_schema(mode="validation")
    _mark_write_only(schema)
    return schema


def map_secrets(stored: object, change: Callable[[str], str]) -> object:
    """``stored`` (what :func:`dump_options` wrote) with every encrypted token replaced by
    ``change(token)``: key rotation re-encrypts stored options with it, without knowing the
    plugin's model."""
    if isinstance(stored, Mapping):
        if _is_encrypted(stored) and isinstance(stored[ENCRYPTED], str):
            return {**stored, ENCRYPTED: change(stored[ENCRYPTED])}
        return {k: map_secrets(v, change) for k, v in stored.items()}
    if isinstance(stored, list):
        return [map_secrets(item, change) for item in stored]
    return stored


def secret_tokens(stored: object) -> list[str]:
    """Every encrypted token in ``stored``."""
    found: list[str] = []

    def collect(token: str) -> str:
        found.append(token)
        return token

    map_secrets(stored, collect)
    return found


def merge_secrets(
    given: Mapping[str, Any], current: Mapping[str, Any], secrets: list[str]
) -> dict[str, Any]:
    """``given`` with every top-level secret it leaves out (or sends as null) taken from
    ``current``: the API never returns secrets, so an edit cannot send them back."""
    merged = dict(given)
    for path in secrets:
        name = path.split(".", 1)[0].split("[", 1)[0]
        if merged.get(name) is None and current.get(name) is not None:
            value = current[name]
            if isinstance(value, SecretStr | SecretBytes):
                value = value.get_secret_value()
            merged[name] = value
    return merged


def public_stored_options(stored: Mapping[str, Any]) -> dict[str, JSONValue]:
    """Stored options with every encrypted value replaced by None (no decryption): what
    to show when the plugin is gone or its options no longer fit it."""
    shown: dict[str, JSONValue] = {}
    secrets_set: list[JSONValue] = []
    for key, value in stored.items():
        if isinstance(value, dict) and "$encrypted" in value:
            shown[key] = None
            secrets_set.append(key)
        else:
            shown[key] = value
    shown["secrets_set"] = secrets_set
    return shown
