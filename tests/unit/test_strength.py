"""The strength rule for passwords and passphrases (lemur.strength)."""

from __future__ import annotations

import pytest

from lemur.errors import InvalidInput
from lemur.strength import COMMON, check_secret_strength

REFUSED = {
    # issue 8: length was the only check
    "aaaaaaaaaaaa": "password_too_weak",
    "x": "password_too_short",
    "abcdefghijkl": "password_too_weak",
    "123456789012": "password_too_weak",
    "987654321098": "password_too_weak",
    "qwertyuiop[]": "password_too_weak",
    "asdfghjkl;'z": "password_too_weak",
    "abcabcabcabc": "password_too_weak",
    "adminadminadmin": "password_too_weak",
    "1q2w1q2w1q2w": "password_too_weak",
    "Password1234": "password_too_weak",
    "P@ssw0rd2026!": "password_too_weak",
    "iloveyou2024!!": "password_too_weak",
    "Welcome!12345": "password_too_weak",
    "letmein_123456": "password_too_weak",
    "!!lemur2026!!": "password_too_weak",
    "Administrator1": "password_too_weak",
    "alice.smith2026": "password_too_weak",  # the username
    "2026htims.ecila": "password_too_weak",  # the username backwards
}
ACCEPTED = [
    "correct-horse-battery-staple",
    "maple orbit lantern cobalt",
    "alice-password-123",
    "member-password-123",
    "export-passphrase-Zebra-42",
    "Tr0ub4dor&3-again",
    "k7#Qp2!vLm9z",
]


@pytest.mark.parametrize(("secret", "code"), REFUSED.items())
def test_guessable_secrets_are_refused_with_advice(secret: str, code: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_secret_strength(secret, field="new_password", username="alice.smith")
    assert info.value.code == code
    assert info.value.field == "new_password"
    assert "12 characters" in info.value.message or "choose another" in info.value.message
    assert "random words" in info.value.message
    assert secret not in info.value.message


@pytest.mark.parametrize("secret", ACCEPTED)
def test_reasonable_secrets_are_accepted(secret: str) -> None:
    check_secret_strength(secret, field="password", username="alice.smith")


def test_passphrase_codes_name_the_passphrase() -> None:
    with pytest.raises(InvalidInput) as info:
        check_secret_strength("x", field="passphrase", kind="passphrase")
    assert info.value.code == "passphrase_too_short"
    assert "passphrase" in info.value.message


def test_the_common_list_is_a_few_hundred_lowercase_words() -> None:
    assert 300 <= len(COMMON) <= 1000
    assert all(word == word.lower() and " " not in word for word in COMMON)
