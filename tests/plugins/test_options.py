"""Plugin options at rest: secrets encrypted by the key ring, never returned by the API."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, SecretStr

from lemur.crypto.keyring import KeyRing, KeyRingError, generate_key
from lemur.errors import InvalidInput
from lemur.plugins.errors import PluginConfigurationError
from lemur.plugins.options import (
    dump_options,
    load_options,
    options_schema,
    public_options,
    secret_paths,
)
from tests.plugins.sample_plugins import VaultOptions

SECRETS = ("t0ken-plaintext-1", "backup-plaintext-2", "backup-plaintext-3")
KEY_BYTES = b"\x00\xffbinary client key\x80"


def options() -> VaultOptions:
    return VaultOptions.model_validate(
        {
            "url": "https://vault.example.com",
            "port": 8200,
            "auth": {"username": "lemur", "token": SECRETS[0]},
            "client_key": KEY_BYTES,
            "backup_tokens": list(SECRETS[1:]),
            "labels": {"env": "prod"},
        }
    )


@pytest.fixture
def keyring() -> KeyRing:
    return KeyRing([generate_key()])


def test_stored_options_hold_ciphertext_never_plaintext(keyring: KeyRing) -> None:
    stored = dump_options(options(), keyring.encrypt)
    text = json.dumps(stored)  # what goes into the database column
    for secret in SECRETS:
        assert secret not in text
    assert "binary client key" not in text
    assert stored["url"] == "https://vault.example.com"
    assert stored["port"] == 8200
    assert stored["labels"] == {"env": "prod"}
    auth = stored["auth"]
    assert isinstance(auth, dict)
    assert auth["username"] == "lemur"
    token = auth["token"]
    assert isinstance(token, dict)
    assert set(token) == {"$encrypted"}
    assert isinstance(token["$encrypted"], str)
    assert token["$encrypted"].startswith(keyring.primary_kid + ":")
    assert keyring.decrypt(token["$encrypted"]) == SECRETS[0].encode()
    assert stored["client_key"] == {
        "$encrypted": stored["client_key"]["$encrypted"],
        "type": "bytes",
    }  # type: ignore[index]


def test_round_trip_through_the_key_ring(keyring: KeyRing) -> None:
    original = options()
    stored = json.loads(json.dumps(dump_options(original, keyring.encrypt)))
    loaded = load_options(VaultOptions, stored, keyring.decrypt)
    assert loaded == original
    assert loaded.auth.token.get_secret_value() == SECRETS[0]
    assert loaded.client_key is not None
    assert loaded.client_key.get_secret_value() == KEY_BYTES
    assert [t.get_secret_value() for t in loaded.backup_tokens] == list(SECRETS[1:])


def test_round_trip_survives_key_rotation(keyring: KeyRing) -> None:
    stored = dump_options(options(), keyring.encrypt)
    rotated = keyring.with_new_primary(generate_key())
    assert load_options(VaultOptions, stored, rotated.decrypt) == options()


def test_another_key_ring_cannot_read_the_secrets(keyring: KeyRing) -> None:
    stored = dump_options(options(), keyring.encrypt)
    with pytest.raises(KeyRingError):
        load_options(VaultOptions, stored, KeyRing([generate_key()]).decrypt)


def test_public_options_show_which_secrets_are_set_but_never_their_values() -> None:
    shown = public_options(options())
    text = json.dumps(shown)
    for secret in SECRETS:
        assert secret not in text
    assert "binary client key" not in text
    assert shown["auth"] == {"username": "lemur", "token": None}
    assert shown["client_key"] is None
    assert shown["backup_tokens"] == [None, None]
    assert shown["secrets_set"] == [
        "auth.token",
        "client_key",
        "backup_tokens[0]",
        "backup_tokens[1]",
    ]
    assert shown["url"] == "https://vault.example.com"


def test_unset_optional_secret_is_not_listed_as_set() -> None:
    opts = VaultOptions.model_validate(
        {"url": "https://v.example.com", "auth": {"username": "u", "token": "tok-123"}}
    )
    shown = public_options(opts)
    assert shown["client_key"] is None
    assert shown["secrets_set"] == ["auth.token"]


def test_stale_stored_options_are_a_configuration_error(keyring: KeyRing) -> None:
    stored = dump_options(options(), keyring.encrypt)
    del stored["auth"]
    with pytest.raises(PluginConfigurationError) as caught:
        load_options(VaultOptions, stored, keyring.decrypt)
    assert (caught.value.code, caught.value.field) == ("stored_options_invalid", "options.auth")
    assert "edit them" in caught.value.message


def test_a_user_value_shaped_like_a_stored_secret_is_refused(keyring: KeyRing) -> None:
    opts = options().model_copy(update={"labels": {"$encrypted": "x"}})
    with pytest.raises(InvalidInput) as caught:
        dump_options(opts, keyring.encrypt)
    assert (caught.value.code, caught.value.field) == ("invalid_plugin_options", "options.labels")


def test_schema_marks_every_secret_write_only() -> None:
    schema = options_schema(VaultOptions)
    assert secret_paths(VaultOptions) == ["auth.token", "backup_tokens[]", "client_key"]
    auth = schema["$defs"]["Auth"]["properties"]  # type: ignore[index]
    assert auth["token"]["writeOnly"] is True
    items = schema["properties"]["backup_tokens"]["items"]  # type: ignore[index]
    assert items["writeOnly"] is True
    client_key = schema["properties"]["client_key"]["anyOf"][0]  # type: ignore[index]
    assert client_key["writeOnly"] is True
    assert "writeOnly" not in schema["properties"]["url"]  # type: ignore[index]


def test_schema_adds_write_only_where_a_custom_schema_left_it_out() -> None:
    class Custom(BaseModel):
        api_key: SecretStr

        @classmethod
        def model_json_schema(cls, *args: object, **kwargs: object) -> dict[str, object]:
            schema = super().model_json_schema(*args, **kwargs)  # type: ignore[arg-type]
            del schema["properties"]["api_key"]["writeOnly"]  # type: ignore[index]
            return schema

    assert "writeOnly" not in Custom.model_json_schema()["properties"]["api_key"]
    assert options_schema(Custom)["properties"]["api_key"]["writeOnly"] is True  # type: ignore[index]
