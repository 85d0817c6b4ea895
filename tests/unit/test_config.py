"""Settings from LEMUR_* variables and an optional TOML file; secrets masked when shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from lemur.config import Settings
from lemur.crypto.keyring import generate_key
from lemur.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("LEMUR_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults(tmp_path: Path) -> None:
    s = Settings()
    assert s.data_dir == tmp_path / "lemur-data"
    assert s.data_dir.is_absolute()
    assert s.host == "127.0.0.1"
    assert s.port == 8000
    assert s.effective_database_url == f"sqlite:///{tmp_path / 'lemur-data' / 'lemur.db'}"
    assert s.effective_base_url == "http://127.0.0.1:8000"
    assert s.key_file == tmp_path / "lemur-data" / "keyring"
    assert s.encryption_keys is None


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = generate_key()
    monkeypatch.setenv("LEMUR_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("LEMUR_PORT", "9001")
    monkeypatch.setenv("LEMUR_HOST", "0.0.0.0")
    monkeypatch.setenv("LEMUR_SECURE_COOKIES", "true")
    monkeypatch.setenv("LEMUR_ENCRYPTION_KEYS", key)
    monkeypatch.setenv("LEMUR_DATABASE_URL", "postgresql+psycopg://lemur@db/lemur")
    s = Settings()
    assert s.data_dir == tmp_path / "elsewhere"
    assert s.port == 9001
    assert s.host == "0.0.0.0"
    assert s.secure_cookies is True
    assert s.encryption_keys is not None
    assert s.encryption_keys.get_secret_value() == key
    assert s.effective_database_url == "postgresql+psycopg://lemur@db/lemur"
    assert s.effective_base_url == "http://0.0.0.0:9001"


def test_bad_environment_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEMUR_PORT", "70000")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "port" in str(info.value)


def test_toml_file_named_by_lemur_config_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "lemur.toml",
        f'[lemur]\nport = 8443\nhost = "lemur.internal"\ndata_dir = "{tmp_path / "d"}"\n'
        "login_max_failures_per_account = 7\n",
    )
    monkeypatch.setenv("LEMUR_CONFIG_FILE", str(path))
    s = Settings()
    assert s.port == 8443
    assert s.host == "lemur.internal"
    assert s.data_dir == tmp_path / "d"
    assert s.login_max_failures_per_account == 7
    # The environment wins over the file; explicit arguments win over both.
    monkeypatch.setenv("LEMUR_PORT", "9000")
    assert Settings().port == 9000
    assert Settings(port=9100).port == 9100


def test_toml_file_at_top_level_in_the_data_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write(data / "lemur.toml", 'base_url = "https://lemur.example.org/"\n')
    monkeypatch.setenv("LEMUR_DATA_DIR", str(data))
    s = Settings()
    assert s.effective_base_url == "https://lemur.example.org"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("prot = 8000\n", "prot"),
        ("[lemur]\nport = 8000\nencryption_key = 'x'\n", "encryption_key"),
        ("port = 8000\n[lemur]\nhost = 'h'\n", "port"),
    ],
)
def test_unknown_key_in_the_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str, key: str
) -> None:
    path = write(tmp_path / "lemur.toml", text)
    monkeypatch.setenv("LEMUR_CONFIG_FILE", str(path))
    with pytest.raises(ConfigurationError) as info:
        Settings()
    assert info.value.code == "config_unknown_setting"
    assert info.value.field == key
    assert f"'{key}'" in info.value.message
    assert str(path) in info.value.message
    assert "'x'" not in info.value.message  # values are never echoed


def test_missing_named_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEMUR_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigurationError) as info:
        Settings()
    assert info.value.code == "config_file_missing"
    assert "nope.toml" in info.value.message


def test_missing_default_file_is_fine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEMUR_DATA_DIR", str(tmp_path / "empty"))
    assert Settings().port == 8000


@pytest.mark.parametrize(
    "text",
    ["import os\nos.system('true')\n", "PORT = 8000 +\n", "port = \n"],
)
def test_file_must_be_toml_not_python(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str
) -> None:
    marker = tmp_path / "executed"
    path = write(tmp_path / "lemur.toml", text.replace("true", f"touch {marker}"))
    monkeypatch.setenv("LEMUR_CONFIG_FILE", str(path))
    with pytest.raises(ConfigurationError) as info:
        Settings()
    assert info.value.code == "config_file_invalid"
    assert "not valid TOML" in info.value.message
    assert not marker.exists()


def test_unreadable_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEMUR_CONFIG_FILE", str(tmp_path))  # a directory
    with pytest.raises(ConfigurationError) as info:
        Settings()
    assert info.value.code == "config_file_unreadable"


def test_bad_value_in_the_file_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = write(tmp_path / "lemur.toml", "max_body_bytes = 10\n")
    monkeypatch.setenv("LEMUR_CONFIG_FILE", str(path))
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "max_body_bytes" in str(info.value)


def test_masked_hides_secrets_and_the_database_password(tmp_path: Path) -> None:
    key = generate_key()
    s = Settings(
        data_dir=tmp_path,
        database_url="postgresql+psycopg://lemur:hunter2-secret@db.internal:5432/lemur",
        encryption_keys=SecretStr(key),
        session_secret=SecretStr("the-session-secret"),
    )
    shown = s.masked()
    text = repr(shown)
    assert key not in text
    assert "hunter2" not in text
    assert "the-session-secret" not in text
    assert shown["encryption_keys"] == "********"
    assert shown["session_secret"] == "********"
    assert shown["database_url"] == "postgresql+psycopg://lemur:***@db.internal:5432/lemur"
    assert shown["port"] == 8000
    assert shown["secure_cookies"] is False
    assert shown["data_dir"] == str(tmp_path)
    # Every setting is listed, unset secrets as None.
    assert set(shown) == set(Settings.model_fields)
    plain = Settings(data_dir=tmp_path).masked()
    assert plain["encryption_keys"] is None
    assert plain["database_url"] == f"sqlite:///{tmp_path / 'lemur.db'}"
    # The settings' own repr does not leak them either.
    assert key not in repr(s)
    assert "the-session-secret" not in repr(s)
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(s)
