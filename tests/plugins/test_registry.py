"""The registry: entry points found, bad plugins recorded and skipped, lookups, options."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

from lemur.builtin.local_ca import LocalCAIssuer
from lemur.errors import InvalidInput, NotFound
from lemur.plugins.base import NoOptions
from lemur.plugins.registry import Registry
from tests.plugins.conftest import make_context
from tests.plugins.sample_plugins import RefusingIssuer, VaultDestination, VaultOptions

BUILTIN_EXPORTERS = {
    "der-certificate",
    "jks",
    "jks-truststore",
    "pem-bundle",
    "pem-certificate",
    "pem-chain",
    "pkcs12",
    "pkcs7-bundle",
    "pkcs8-key",
}
SAMPLES = "tests.plugins.sample_plugins"


def ep(group: str, name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=group)


def test_installed_entry_points_give_every_builtin_plugin_without_errors() -> None:
    registry = Registry.load()
    assert registry.errors == ()
    assert "local-ca" in registry.slugs("issuer")
    assert set(registry.slugs("exporter")) >= BUILTIN_EXPORTERS
    assert registry.get("issuer", "local-ca") is LocalCAIssuer
    described = {d.slug: d for d in registry.describe("issuer")}
    assert described["local-ca"].distribution is not None
    assert described["local-ca"].distribution.startswith("lemur ")


def test_broken_plugins_are_recorded_and_skipped_while_good_ones_load() -> None:
    registry = Registry.load(
        [
            ep("lemur.issuers", "refusing-ca", f"{SAMPLES}:RefusingIssuer"),
            ep("lemur.issuers", "vendor-ca", "tests.plugins.broken_module:VendorIssuer"),
            ep("lemur.issuers", "missing-ca", "tests.plugins.no_such_module:X"),
            ep("lemur.issuers", "wrong-name", f"{SAMPLES}:WrongSlugIssuer"),
            ep("lemur.issuers", "Not_Kebab", f"{SAMPLES}:NotKebabIssuer"),
            ep("lemur.issuers", "no-title", f"{SAMPLES}:NoTitleIssuer"),
            ep("lemur.issuers", "not-a-plugin", f"{SAMPLES}:NotAPlugin"),
            ep("lemur.issuers", "vault-store", f"{SAMPLES}:VaultDestination"),
            ep("lemur.exporters", "abstract-exporter", f"{SAMPLES}:AbstractExporter"),
            ep("lemur.issuers", "no-attribute", f"{SAMPLES}:DoesNotExist"),
            ep("lemur.destinations", "vault-store", f"{SAMPLES}:VaultDestination"),
        ]
    )
    assert registry.slugs("issuer") == ["refusing-ca"]
    assert registry.slugs("destination") == ["vault-store"]
    assert registry.slugs("exporter") == []
    errors = {(e.kind, e.slug): e.message for e in registry.errors}
    assert set(errors) == {
        ("issuer", "vendor-ca"),
        ("issuer", "missing-ca"),
        ("issuer", "wrong-name"),
        ("issuer", "Not_Kebab"),
        ("issuer", "no-title"),
        ("issuer", "not-a-plugin"),
        ("issuer", "vault-store"),
        ("exporter", "abstract-exporter"),
        ("issuer", "no-attribute"),
    }
    assert "ImportError" in errors[("issuer", "vendor-ca")]
    assert "pip install vendor-sdk" in errors[("issuer", "vendor-ca")]
    assert "ModuleNotFoundError" in errors[("issuer", "missing-ca")]
    assert (
        "slug is 'other-name' but the entry point is named 'wrong-name'"
        in errors[("issuer", "wrong-name")]
    )
    assert "kebab-case" in errors[("issuer", "Not_Kebab")]
    assert "no title" in errors[("issuer", "no-title")]
    assert "not a subclass of lemur.plugins.base.Issuer" in errors[("issuer", "not-a-plugin")]
    assert "not a subclass of lemur.plugins.base.Issuer" in errors[("issuer", "vault-store")]
    assert "abstract (does not implement export)" in errors[("exporter", "abstract-exporter")]
    assert "AttributeError" in errors[("issuer", "no-attribute")]


def test_a_slug_registered_by_two_packages_loads_neither() -> None:
    registry = Registry.load(
        [
            ep("lemur.issuers", "local-ca", "lemur.builtin.local_ca:LocalCAIssuer"),
            ep("lemur.issuers", "local-ca", f"{SAMPLES}:RefusingIssuer"),
            # the same target twice (one package seen twice on the path) is not a conflict
            ep("lemur.issuers", "refusing-ca", f"{SAMPLES}:RefusingIssuer"),
            ep("lemur.issuers", "refusing-ca", f"{SAMPLES}:RefusingIssuer"),
        ]
    )
    assert registry.slugs("issuer") == ["refusing-ca"]
    [error] = registry.errors
    assert (error.kind, error.slug) == ("issuer", "local-ca")
    assert "registered twice" in error.message


def test_entry_points_of_other_groups_are_ignored() -> None:
    registry = Registry.load([ep("console_scripts", "lemur", "lemur.cli:main")])
    assert registry.errors == ()
    assert registry.describe() == []


def test_get_unknown_slug_lists_installed_ones() -> None:
    registry = Registry.load()
    with pytest.raises(NotFound) as caught:
        registry.get("exporter", "bks")
    err = caught.value
    assert (err.code, err.status, err.field) == ("plugin_not_found", 404, "plugin")
    assert "no exporter plugin 'bks' is installed" in err.message
    assert "pem-bundle" in err.message
    assert "pkcs12" in err.message
    assert "local-ca" not in err.message


def test_get_with_nothing_installed_says_none() -> None:
    with pytest.raises(NotFound, match="installed: none"):
        Registry.from_classes([]).get("notifier", "email")


def test_unknown_kind() -> None:
    with pytest.raises(NotFound) as caught:
        Registry.load().get("plugin", "local-ca")
    assert caught.value.code == "plugin_kind_not_found"


def test_describe_gives_schema_capabilities_and_exporter_flags() -> None:
    registry = Registry.from_classes([LocalCAIssuer, VaultDestination, RefusingIssuer])
    by_slug = {d.slug: d for d in registry.describe()}
    assert [d.slug for d in registry.describe()] == ["local-ca", "refusing-ca", "vault-store"]
    local = by_slug["local-ca"]
    assert (local.kind, local.title) == ("issuer", "Local CA")
    assert local.capabilities == ("revoke", "publish_crl", "create_authority")
    assert local.includes_private_key is None
    assert local.options_schema["additionalProperties"] is False
    vault = by_slug["vault-store"]
    assert vault.capabilities == ("verify",)
    assert vault.description == "Stores certificates in a vault.\nSecond line."
    assert json.dumps(vault.options_schema)
    token = vault.options_schema["$defs"]["Auth"]["properties"]["token"]  # type: ignore[index]
    assert token["writeOnly"] is True
    assert token["format"] == "password"
    exporters = {d.slug: d for d in Registry.load().describe("exporter")}
    assert (exporters["pkcs12"].includes_private_key, exporters["pkcs12"].needs_passphrase) == (
        True,
        True,
    )
    assert (
        exporters["pkcs8-key"].includes_private_key,
        exporters["pkcs8-key"].needs_passphrase,
    ) == (True, False)
    assert (
        exporters["pem-bundle"].includes_private_key,
        exporters["pem-bundle"].needs_passphrase,
    ) == (False, False)


def test_from_classes_refuses_invalid_classes() -> None:
    from tests.plugins.sample_plugins import NotAPlugin, NotKebabIssuer

    with pytest.raises(ValueError, match="kebab-case"):
        Registry.from_classes([NotKebabIssuer])
    with pytest.raises(ValueError, match="no known plugin kind"):
        Registry.from_classes([NotAPlugin])
    with pytest.raises(ValueError, match="two issuer plugins"):
        Registry.from_classes([RefusingIssuer, RefusingIssuer])


VALID = {"url": "https://vault.example.com", "auth": {"username": "lemur", "token": "s3cr3t-t0ken"}}


def test_instantiate_validates_and_constructs() -> None:
    registry = Registry.from_classes([VaultDestination])
    plugin = registry.instantiate("destination", "vault-store", VALID, make_context())
    assert isinstance(plugin, VaultDestination)
    assert plugin.options.port == 443
    assert plugin.options.auth.token.get_secret_value() == "s3cr3t-t0ken"
    # an already-validated model (as load_options returns) is used as is
    again = registry.instantiate("destination", "vault-store", plugin.options, make_context())
    assert again.options is plugin.options


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({**VALID, "port": 0}, "options.port"),
        ({**VALID, "url": "http://plain.example.com"}, "options.url"),
        ({**VALID, "auth": {"username": "lemur"}}, "options.auth.token"),
        ({**VALID, "backup_tokens": ["ok", 7]}, "options.backup_tokens[1]"),
        ({**VALID, "colour": "blue"}, "options.colour"),
        ({"url": "https://vault.example.com"}, "options.auth"),
        (["not", "a", "dict"], "options"),
    ],
)
def test_instantiate_rejects_bad_options_naming_the_field(options: object, field: str) -> None:
    registry = Registry.from_classes([VaultDestination])
    with pytest.raises(InvalidInput) as caught:
        registry.instantiate("destination", "vault-store", options, make_context())
    err = caught.value
    assert (err.code, err.field, err.status) == ("invalid_plugin_options", field, 422)
    assert err.message.startswith(field + ": ")


def test_option_errors_never_echo_a_secret() -> None:
    registry = Registry.from_classes([VaultDestination])
    bad = {
        **VALID,
        "port": "hunter2-secret",
        "auth": {"username": "x", "token": ["hunter2-secret"]},
    }
    with pytest.raises(InvalidInput) as caught:
        registry.instantiate("destination", "vault-store", bad, make_context())
    assert "hunter2" not in caught.value.message
    assert "and 1 more problem" in caught.value.message


def test_instantiate_with_options_of_another_plugin_is_refused() -> None:
    registry = Registry.from_classes([LocalCAIssuer, VaultDestination])
    options = VaultOptions.model_validate(VALID)
    with pytest.raises(InvalidInput) as caught:
        registry.instantiate("issuer", "local-ca", options, make_context())
    assert (caught.value.code, caught.value.field) == ("invalid_plugin_options", "options")
    issuer = registry.instantiate("issuer", "local-ca", NoOptions(), make_context())
    assert isinstance(issuer, LocalCAIssuer)


def test_instantiate_unknown_plugin() -> None:
    with pytest.raises(NotFound) as caught:
        Registry.load().instantiate("issuer", "no-such-ca", {}, make_context())
    assert caught.value.code == "plugin_not_found"
