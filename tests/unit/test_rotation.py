"""Key rotation: re-encrypt every stored secret in batches, resumably, while a server runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from lemur.accounts.models import AppSecret
from lemur.audit.models import AuditEvent
from lemur.audit.service import Actor
from lemur.clock import FrozenClock
from lemur.config import Settings
from lemur.container import Container, build_container
from lemur.crypto.keyring import generate_key, key_id
from lemur.errors import ConfigurationError
from lemur.keys.models import KeyringKey
from lemur.keys.service import KeyRotation, count_pending, encrypted_columns
from tests.conftest import FAST_HASHER

ROWS = 300
ACTOR = Actor("cli:test", None)


class Interrupted(Exception):
    pass


def add_secrets(container: Container, n: int = ROWS, prefix: str = "s") -> dict[str, bytes]:
    plain = {f"{prefix}-{i:04d}": f"secret number {i} of {prefix}".encode() for i in range(n)}
    with container.db.write() as session:
        for name, value in plain.items():
            session.add(
                AppSecret(
                    name=name,
                    ciphertext=container.keyring.encrypt(value),
                    created_at=container.clock.now(),
                )
            )
        session.commit()
    return plain


def stored(container: Container) -> dict[str, str]:
    with container.db.read() as session:
        return {row.name: row.ciphertext for row in session.scalars(select(AppSecret))}


def all_encrypted(container: Container) -> list[str]:
    """Every value of every encrypted column, whichever tables hold them."""
    with container.db.read() as session:
        return [v for table, column in encrypted_columns() for v in session.scalars(select(column))]


def pending(container: Container) -> int:
    with container.db.read() as session:
        return sum(count_pending(session, container.keyring).values())


def keys(container: Container) -> dict[str, bool]:
    """kid -> retired?"""
    with container.db.read() as session:
        return {k.kid: k.retired_at is not None for k in session.scalars(select(KeyringKey))}


def events(container: Container, action: str) -> list[AuditEvent]:
    with container.db.read() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)
            )
        )


def rotation(container: Container) -> KeyRotation:
    return KeyRotation(
        container.db, container.keyring, clock=container.clock, actor=ACTOR, settle_seconds=0
    )


def file_keys(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def test_rotate_reencrypts_every_row_and_retires_the_old_key(
    container: Container, settings: Settings, clock: FrozenClock
) -> None:
    plain = add_secrets(container)
    old = container.keyring.primary_kid
    secrets_rows = len(stored(container))  # ours, the session secret and any others
    total = len(all_encrypted(container))
    assert total >= ROWS + 1
    backup = settings.data_dir / "keyring.backup"
    shutil.copy(settings.key_file, backup)
    seen: list[tuple[str, int, int]] = []

    report = rotation(container).rotate(batch_size=40, progress=lambda *a: seen.append(a))

    new = report.new_kid
    assert new != old
    assert not report.resumed
    assert report.reencrypted["app_secrets.ciphertext"] == secrets_rows
    assert sum(report.reencrypted.values()) == total
    assert report.retired == [old]
    # Progress went up batch by batch to the total.
    ours = [s for s in seen if s[0] == "app_secrets.ciphertext"]
    assert ours[0][1] == 0
    assert (secrets_rows, secrets_rows) in [(d, t) for _, d, t in ours]
    dones = [d for _, d, _ in ours if d]
    assert dones == sorted(dones)
    assert len(ours) >= ROWS // 40
    # Every row is under the new key and decrypts to what it was.
    assert all(v.startswith(new + ":") for v in all_encrypted(container))
    rows = stored(container)
    ring = rotation(container).ring  # the container's ring follows the file
    for name, value in plain.items():
        assert container.keyring.decrypt(rows[name]) == value
        assert ring.decrypt(rows[name]) == value
    assert pending(container) == 0
    # The key file has the new primary in front; the old key stays for old backups.
    assert [key_id(k) for k in file_keys(settings.key_file)] == [new, old]
    assert settings.key_file.stat().st_mode & 0o777 == 0o600
    assert keys(container) == {old: True, new: False}
    [event] = events(container, "keys.rotate")
    assert event.outcome == "success"
    assert event.target_id == new
    details = json.loads(event.details)
    assert details["reencrypted"] == total
    assert details["retired"] == [old]
    assert details["resumed"] is False
    # A restart works with the new file, and the pre-rotation backup is now refused.
    container.close()
    restarted = build_container(settings, init=False, clock=clock, hasher=FAST_HASHER)
    restarted.close()
    shutil.copy(backup, settings.key_file)
    with pytest.raises(ConfigurationError) as info:
        build_container(settings, init=False, clock=clock, hasher=FAST_HASHER)
    assert info.value.code == "keyring_missing_key"
    assert new in info.value.message


def test_interrupted_rotation_resumes(container: Container, settings: Settings) -> None:
    plain = add_secrets(container)
    old = container.keyring.primary_kid

    total = len(all_encrypted(container))

    def stop_after_first_batch(name: str, done: int, of: int) -> None:
        if name == "app_secrets.ciphertext" and done > 0:
            raise Interrupted

    first = rotation(container)
    with pytest.raises(Interrupted):
        first.rotate(batch_size=50, progress=stop_after_first_batch)
    new = first.ring.primary_kid
    assert sum(v.startswith(new + ":") for v in stored(container).values()) == 50
    left = sum(not v.startswith(new + ":") for v in all_encrypted(container))
    assert 0 < left <= total - 50
    # Half-way, both keys are needed and neither is retired; a restart would still work.
    assert keys(container) == {old: False, new: False}
    assert events(container, "keys.rotate") == []

    # Run again (here: with the ring this process had before the interruption).
    report = rotation(container).rotate(batch_size=50)
    assert report.resumed
    assert report.new_kid == new
    assert sum(report.reencrypted.values()) == left
    assert [key_id(k) for k in file_keys(settings.key_file)] == [new, old]  # no third key
    assert all(v.startswith(new + ":") for v in all_encrypted(container))
    rows = stored(container)
    for name, value in plain.items():
        assert container.keyring.decrypt(rows[name]) == value
    assert keys(container) == {old: True, new: False}
    [done] = events(container, "keys.rotate")
    assert json.loads(done.details)["resumed"] is True
    assert len(events(container, "keys.rotate_start")) == 2


def test_server_keeps_serving_during_rotation(
    container: Container, settings: Settings, clock: FrozenClock
) -> None:
    plain = add_secrets(container)
    server = build_container(settings, init=False, clock=clock, hasher=FAST_HASHER)
    try:
        checks = 0

        def server_reads_everything(name: str, done: int, total: int) -> None:
            nonlocal checks
            rows = stored(server)
            for secret, value in plain.items():
                assert server.keyring.decrypt(rows[secret]) == value
            checks += 1
            if checks == 2:
                # The server stores a new secret mid-rotation (still with the key it knew).
                with server.db.write() as session:
                    session.add(
                        AppSecret(
                            name="written-during-rotation",
                            ciphertext=server.keyring.encrypt(b"fresh"),
                            created_at=clock.now(),
                        )
                    )
                    session.commit()

        report = rotation(container).rotate(batch_size=60, progress=server_reads_everything)
        assert checks > 3
        rows = stored(server)
        assert all(v.startswith(report.new_kid + ":") for v in rows.values())
        for secret, value in plain.items():
            assert server.keyring.decrypt(rows[secret]) == value
        assert server.keyring.decrypt(rows["written-during-rotation"]) == b"fresh"
        # The server now encrypts with the new primary, too.
        assert server.keyring.primary_kid == report.new_kid
        assert server.keyring.encrypt(b"later").startswith(report.new_kid + ":")
        assert keys(server)[report.new_kid] is False
    finally:
        server.close()


def test_rotate_twice_retires_both_old_keys(container: Container, settings: Settings) -> None:
    add_secrets(container, 20)
    first = rotation(container).rotate(batch_size=7)
    second = rotation(container).rotate(batch_size=7)
    assert not second.resumed
    assert second.retired == [first.new_kid]
    assert len(file_keys(settings.key_file)) == 3
    assert sum(not retired for retired in keys(container).values()) == 1


def _env_settings(settings: Settings, value: str) -> Settings:
    return Settings(
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        encryption_keys=SecretStr(value),
    )


def test_env_ring_rotation(
    tmp_path: Path, settings: Settings, clock: FrozenClock, env_keys: str
) -> None:
    first = build_container(
        _env_settings(settings, env_keys), init=True, clock=clock, hasher=FAST_HASHER
    )
    try:
        plain = add_secrets(first, 30)
        audit_before = len(events(first, "keys.rotate_start"))
        with pytest.raises(ConfigurationError) as info:
            rotation(first).rotate()
        assert info.value.code == "keyring_env_rotation"
        assert "LEMUR_ENCRYPTION_KEYS" in info.value.message
        assert "lemur keys generate" in info.value.message
        assert "restart" in info.value.message
        # Nothing was changed.
        assert keys(first) == {key_id(env_keys): False}
        assert len(events(first, "keys.rotate_start")) == audit_before
        assert not settings.key_file.exists()
    finally:
        first.close()

    # Following the instructions: a new key in front, restart, rotate.
    new = generate_key()
    second = build_container(
        _env_settings(settings, f"{new},{env_keys}"), init=False, clock=clock, hasher=FAST_HASHER
    )
    try:
        report = rotation(second).rotate(batch_size=8)
        assert report.resumed
        assert report.new_kid == key_id(new)
        assert report.retired == [key_id(env_keys)]
        rows = stored(second)
        assert all(v.startswith(key_id(new) + ":") for v in rows.values())
        for name, value in plain.items():
            assert second.keyring.decrypt(rows[name]) == value
    finally:
        second.close()
    # The retired key may now be dropped from the environment.
    third = build_container(
        _env_settings(settings, new), init=False, clock=clock, hasher=FAST_HASHER
    )
    third.close()


def test_rotate_reencrypts_the_secrets_inside_stored_plugin_options(
    container: Container, settings: Settings
) -> None:
    from lemur.authz import cli_principal
    from lemur.crypto.keyring import KeyRing
    from lemur.notifications.delivery import stored_options
    from lemur.notifications.models import Channel
    from lemur.services import Services

    with Services(container, cli_principal()) as services:
        made = services.notifications().create_channel(
            "hooks",
            "webhook",
            {"url": "https://hooks.example.test/lemur", "secret": "whsec-rotate-me-0123456789"},
        )
    old = container.keyring.primary_kid
    assert pending(container) == 0

    report = rotation(container).rotate(batch_size=40)

    assert report.reencrypted["notification_channels.options"] == 1
    assert report.retired == [old]
    with container.db.read() as session:
        left = count_pending(session, KeyRing.from_file(settings.key_file))
    assert left["notification_channels.options"] == 0
    with container.db.read() as session:
        channel = session.get(Channel, made.id)
        assert channel is not None
        assert f'"{old}:' not in channel.options
    # Only the new key is needed: the old one can go from the key file.
    only_new = KeyRing.from_file(settings.key_file).without({old})
    options = stored_options(container.plugins, only_new, channel)
    assert options.secret.get_secret_value() == "whsec-rotate-me-0123456789"
