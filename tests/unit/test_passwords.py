"""argon2id password hashes, strength rules and one-time passwords."""

from __future__ import annotations

import pytest

from lemur.accounts.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    PasswordHasher,
    check_password_strength,
    one_time_password,
)
from lemur.errors import InvalidInput
from tests.conftest import FAST_HASHER


def test_default_hasher_is_argon2id_with_rfc9106_low_memory_parameters() -> None:
    stored = PasswordHasher().hash("correct horse battery")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_hash_is_salted_and_verifies() -> None:
    a = FAST_HASHER.hash("correct horse battery")
    b = FAST_HASHER.hash("correct horse battery")
    assert a != b
    assert "correct horse" not in a
    assert FAST_HASHER.verify(a, "correct horse battery")
    assert FAST_HASHER.verify(b, "correct horse battery")


@pytest.mark.parametrize("attempt", ["correct horse batterY", "", "correct horse battery "])
def test_wrong_password_is_rejected(attempt: str) -> None:
    assert not FAST_HASHER.verify(FAST_HASHER.hash("correct horse battery"), attempt)


def test_no_stored_hash_never_verifies() -> None:
    """An unknown user (or one with no password) is checked against a dummy hash and fails."""
    assert not FAST_HASHER.verify(None, "")
    assert not FAST_HASHER.verify(None, "anything at all")


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$v=19$m=1024,t=1,p=4$broken"])
def test_garbage_stored_hash_does_not_crash(stored: str) -> None:
    assert not FAST_HASHER.verify(stored, "whatever")


def test_hashes_from_other_parameters_still_verify() -> None:
    """Raising the cost later must not lock out existing users."""
    old = PasswordHasher(time_cost=1, memory_cost=1024).hash("an old password")
    assert PasswordHasher(time_cost=2, memory_cost=2048).verify(old, "an old password")


def test_too_short_password() -> None:
    check_password_strength("maple orbit lantern cobalt"[:MIN_PASSWORD_LENGTH])
    with pytest.raises(InvalidInput) as info:
        check_password_strength(
            "maple orbit lantern"[: MIN_PASSWORD_LENGTH - 1], field="new_password"
        )
    assert info.value.code == "password_too_short"
    assert info.value.field == "new_password"
    assert str(MIN_PASSWORD_LENGTH) in info.value.message


def test_too_long_password() -> None:
    long = "".join(f"word{i} " for i in range(MAX_PASSWORD_LENGTH))
    check_password_strength(long[:MAX_PASSWORD_LENGTH])
    with pytest.raises(InvalidInput) as info:
        check_password_strength(long[: MAX_PASSWORD_LENGTH + 1])
    assert info.value.code == "password_too_long"
    assert info.value.field == "password"


def test_one_time_passwords_are_strong_and_unique() -> None:
    passwords = {one_time_password() for _ in range(200)}
    assert len(passwords) == 200
    for password in passwords:
        check_password_strength(password)
        assert len(password) >= 20
