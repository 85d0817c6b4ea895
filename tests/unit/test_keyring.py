"""The key ring, and start-up refusing to run with a missing or wrong key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from lemur.clock import FrozenClock
from lemur.config import Settings
from lemur.container import Container, InitReport, build_container
from lemur.crypto.keyring import KeyRing, KeyRingError, generate_key, key_id, write_key_file
from lemur.errors import ConfigurationError
from tests.conftest import FAST_HASHER


def key_file(tmp_path: Path, *keys: str, mode: int = 0o600) -> Path:
    path = tmp_path / "keyring"
    write_key_file(path, list(keys))
    os.chmod(path, mode)
    return path


# --- encryption ---------------------------------------------------------------------------


def test_encrypt_names_the_key_and_decrypts() -> None:
    key = generate_key()
    ring = KeyRing([key])
    stored = ring.encrypt(b"the private key")
    kid, _, token = stored.partition(":")
    assert kid == key_id(key) == ring.primary_kid
    assert len(kid) == 8
    assert b"the private key" not in stored.encode()
    assert ring.decrypt(stored) == b"the private key"
    # Fernet tokens are randomised: the same secret never looks the same twice.
    assert ring.encrypt(b"the private key") != stored
    assert token


def test_older_keys_still_decrypt_and_primary_encrypts() -> None:
    old, new = generate_key(), generate_key()
    before = KeyRing([old]).encrypt(b"s1")
    ring = KeyRing([new, old])
    assert ring.decrypt(before) == b"s1"
    assert ring.needs_rotation(before)
    after = ring.encrypt(b"s2")
    assert after.startswith(key_id(new) + ":")
    assert not ring.needs_rotation(after)
    assert ring.kids == [key_id(new), key_id(old)]


def test_missing_key_names_the_key_id() -> None:
    a, b = generate_key(), generate_key()
    stored = KeyRing([a]).encrypt(b"secret")
    with pytest.raises(KeyRingError) as info:
        KeyRing([b], source="LEMUR_ENCRYPTION_KEYS").decrypt(stored)
    assert info.value.code == "keyring_missing_key"
    assert key_id(a) in info.value.message
    assert "LEMUR_ENCRYPTION_KEYS" in info.value.message


def test_wrong_key_under_the_same_id_and_corrupt_values() -> None:
    key = generate_key()
    ring = KeyRing([key])
    stored = ring.encrypt(b"secret")
    kid, _, token = stored.partition(":")
    other = KeyRing([generate_key()]).encrypt(b"secret").partition(":")[2]
    for bad in (f"{kid}:{other}", f"{kid}:{token[:-4]}AAAA", "no-key-id-here"):
        with pytest.raises(KeyRingError) as info:
            ring.decrypt(bad)
        assert info.value.code == "keyring_corrupt_value"


def test_env_ring_parses_comma_separated_keys() -> None:
    a, b = generate_key(), generate_key()
    ring = KeyRing.from_env(f" {a} , {b} ")
    assert ring.kids == [key_id(a), key_id(b)]
    assert ring.path is None
    with pytest.raises(ConfigurationError) as info:
        KeyRing.from_env(" , ")
    assert info.value.code == "keyring_empty"


@pytest.mark.parametrize("where", ["env", "file"])
def test_invalid_key_text_gets_a_helpful_message(tmp_path: Path, where: str) -> None:
    bad = "this-is-not-a-fernet-key"
    path = key_file(tmp_path, bad)
    with pytest.raises(ConfigurationError) as info:
        KeyRing.from_env(f"{generate_key()},{bad}") if where == "env" else KeyRing.from_file(path)
    assert info.value.code == "keyring_invalid_key"
    assert "not a valid Fernet key" in info.value.message
    assert ("key #2" if where == "env" else "key #1") in info.value.message
    assert "lemur keys generate" in info.value.message
    assert bad not in info.value.message  # key material is never echoed


# --- key file -----------------------------------------------------------------------------


def test_key_file_round_trip_and_mode(tmp_path: Path) -> None:
    a, b = generate_key(), generate_key()
    path = key_file(tmp_path, a, b)
    assert path.stat().st_mode & 0o777 == 0o600
    ring = KeyRing.from_file(path)
    assert ring.kids == [key_id(a), key_id(b)]
    assert ring.path == path
    # Comments and blank lines are ignored.
    path.write_text(f"# comment\n\n{b}\n")
    assert KeyRing.from_file(path).kids == [key_id(b)]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path, generate_key(), mode=mode)
    with pytest.raises(ConfigurationError) as info:
        KeyRing.from_file(path)
    assert info.value.code == "keyring_file_permissions"
    assert f"chmod 600 {path}" in info.value.message


def test_empty_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keyring"
    path.write_text("# nothing here\n")
    path.chmod(0o600)
    with pytest.raises(ConfigurationError) as info:
        KeyRing.from_file(path)
    assert info.value.code == "keyring_empty"
    assert str(path) in info.value.message


def test_ring_follows_a_rewritten_key_file(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    path = key_file(tmp_path, old)
    server = KeyRing.from_file(path)
    before = server.encrypt(b"before")
    # Another process (``lemur keys rotate``) rewrites the file with a new primary key.
    rotated = KeyRing.from_file(path).with_new_primary(new)
    assert path.stat().st_mode & 0o777 == 0o600
    written = rotated.encrypt(b"written by the rotation")
    assert written.startswith(key_id(new) + ":")
    # The running ring meets the new key id, re-reads the file and decrypts it...
    assert server.decrypt(written) == b"written by the rotation"
    assert server.decrypt(before) == b"before"
    # ...and from then on encrypts with the new primary too.
    assert server.primary_kid == key_id(new)
    assert server.encrypt(b"x").startswith(key_id(new) + ":")


def test_ring_without_the_key_in_the_file_still_fails(tmp_path: Path) -> None:
    path = key_file(tmp_path, generate_key())
    ring = KeyRing.from_file(path)
    stranger = KeyRing([generate_key()]).encrypt(b"secret")
    with pytest.raises(KeyRingError) as info:
        ring.decrypt(stranger)
    assert info.value.code == "keyring_missing_key"
    assert str(path) in info.value.message


# --- start-up -----------------------------------------------------------------------------


def test_init_creates_a_private_key_file_once(
    container: Container, settings: Settings, init_report: InitReport, clock: FrozenClock
) -> None:
    path = settings.key_file
    assert init_report.created_key_file
    assert path.stat().st_mode & 0o777 == 0o600
    assert settings.data_dir.stat().st_mode & 0o777 == 0o700
    content = path.read_text()
    again = InitReport()
    second = build_container(settings, init=True, clock=clock, hasher=FAST_HASHER, report=again)
    try:
        assert not again.created_key_file
        assert again.admin_password is None  # the admin is not recreated either
        assert path.read_text() == content
        assert second.session_secret == container.session_secret
    finally:
        second.close()


@pytest.mark.parametrize("init", [True, False])
def test_missing_key_file_over_existing_data_refuses_to_start(
    container: Container, settings: Settings, clock: FrozenClock, init: bool
) -> None:
    container.close()
    settings.key_file.unlink()
    with pytest.raises(ConfigurationError) as info:
        build_container(settings, init=init, clock=clock, hasher=FAST_HASHER)
    assert info.value.code == "keyring_missing"
    assert str(settings.key_file) in info.value.message
    assert "Restore the key file" in info.value.message
    assert not settings.key_file.exists()  # no new key over existing data


def test_replaced_key_file_refuses_to_start(
    container: Container, settings: Settings, clock: FrozenClock
) -> None:
    container.close()
    write_key_file(settings.key_file, [generate_key()])
    with pytest.raises(ConfigurationError) as info:
        build_container(settings, init=False, clock=clock, hasher=FAST_HASHER)
    assert info.value.code == "keyring_missing_key"
    assert container.keyring.primary_kid in info.value.message


def test_key_file_readable_by_others_refuses_to_start(
    container: Container, settings: Settings, clock: FrozenClock
) -> None:
    container.close()
    settings.key_file.chmod(0o644)
    with pytest.raises(ConfigurationError) as info:
        build_container(settings, init=False, clock=clock, hasher=FAST_HASHER)
    assert info.value.code == "keyring_file_permissions"
    assert "chmod 600" in info.value.message


def _with_env_keys(settings: Settings, keys: str) -> Settings:
    return Settings(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        encryption_keys=SecretStr(keys),
    )


def test_env_keys_with_a_different_key_refuse_to_start(
    container: Container, settings: Settings, clock: FrozenClock, env_keys: str
) -> None:
    container.close()
    with pytest.raises(ConfigurationError) as info:
        build_container(_with_env_keys(settings, env_keys), init=False, clock=clock)
    assert info.value.code == "keyring_missing_key"
    assert "LEMUR_ENCRYPTION_KEYS" in info.value.message
    assert container.keyring.primary_kid in info.value.message


def test_env_keys_with_the_right_key_start(
    container: Container, settings: Settings, clock: FrozenClock
) -> None:
    container.close()
    keys = [line for line in settings.key_file.read_text().splitlines() if not line.startswith("#")]
    settings.key_file.unlink()  # the environment alone is enough
    started = build_container(
        _with_env_keys(settings, ",".join(keys)), init=False, clock=clock, hasher=FAST_HASHER
    )
    try:
        assert started.keyring.source == "LEMUR_ENCRYPTION_KEYS"
        assert started.session_secret == container.session_secret
    finally:
        started.close()
    assert not settings.key_file.exists()


def test_fresh_database_with_env_keys_needs_no_key_file(
    tmp_path: Path, database_url: str, clock: FrozenClock, env_keys: str
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700, exist_ok=True)
    settings = Settings(
        data_dir=data, database_url=database_url, encryption_keys=SecretStr(env_keys)
    )
    report = InitReport()
    started = build_container(settings, init=True, clock=clock, hasher=FAST_HASHER, report=report)
    try:
        assert not report.created_key_file
        assert not settings.key_file.exists()
        assert started.keyring.primary_kid == key_id(env_keys)
    finally:
        started.close()
