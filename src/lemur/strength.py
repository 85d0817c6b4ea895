"""One rule for secrets people choose: passwords and export passphrases.

A secret is refused when it is shorter than :data:`MIN_LENGTH`, when it is mostly repeated
or sequential characters (``aaaaaaaaaaaa``, ``abcdefghijkl``, ``123456789012``, keyboard
rows such as ``qwertyuiop``), when it repeats a short piece (``adminadminadmin``), when it
is the username, or when it is a well-known password or word with digits or symbols added
around it (``Password1234!``, ``P@ssw0rd2026``). Each refusal says what to do instead.

The list below is short on purpose: secrets here are at least 12 characters, and what
guessing lists hold at that length is mostly a common word with padding, which the
normalisation catches. Nothing here imports cryptography or the database.
"""

from __future__ import annotations

import string
from typing import Annotated

from pydantic import AfterValidator, SecretStr
from pydantic_core import PydanticCustomError

from lemur.errors import InvalidInput
from lemur.text import check_secret

MIN_LENGTH = 12
MAX_LENGTH = 1024
# Characters that are not predictable from the one before must number at least this many.
MIN_UNPREDICTABLE = 8
ADVICE = "four or more random words, e.g. 'maple orbit lantern cobalt', work well"

_ROWS = ("`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./", "qwertzuiop", "azertyuiop")
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
)
_PADDING = string.digits + string.punctuation + " "

# Common passwords and the words they are built from, lowercased, written for this module.
_COMMON_WORDS = """
    password passw0rd passwort motdepasse contrasena wachtwoord salasana haslo parola
    senha qwerty qwertz azerty qwertyuiop asdfgh asdfghjkl zxcvbn zxcvbnm qazwsx qweasd
    qwe123 letmein welcome changeme default secret private access master login logon
    admin administrator root toor superuser sysadmin guest user username test tester
    testing demo example sample temp temporary lemur lemurs certificate certificates pki
    iloveyou loveyou lovely love lover trustno1 trustnoone whatever nothing something
    monkey dragon tiger lion eagle falcon shadow ghost phoenix wolf bear dolphin spider
    football baseball basketball soccer hockey golf tennis cricket rugby volleyball
    sunshine princess prince queen king knight angel angels heaven devil jesus god
    michael jennifer jessica ashley amanda daniel david robert thomas charlie andrew
    joshua matthew christopher anthony william hannah samantha michelle nicole jordan
    hunter ranger buster batman superman spiderman ironman starwars pokemon naruto
    computer internet freedom liberty summer winter spring autumn flower flowers garden
    chocolate cookie banana orange apple cherry pepper ginger sugar honey butter mustang
    ferrari porsche corvette harley yamaha mercedes toyota london paris berlin amsterdam
    newyork chicago boston california america canada england germany france holland
    nederland europe hello hello123 helloworld goodbye welcome1 letmein1 password1
    abc123 abcdef abcd1234 qwerty123 iloveyou1 monkey123 dragon123 admin123 root123
    test123 pass pass123 matrix hacker security secure cyber network server servers
    system systems company business office manager support service services finance
    payroll january february march april may june july august september october november
    december monday tuesday wednesday thursday friday saturday sunday one two three four
    five six seven eight nine ten eleven twelve red blue green yellow purple black white
    silver golden gold diamond crystal family friends friend forever always together
    happy smile lucky coffee pizza beer whiskey vodka cheese startrek gandalf frodo
    hobbit merlin wizard magic zaq12wsx 1q2w3e4r 1q2w3e4r5t 1qaz2wsx q1w2e3r4 a1b2c3d4
    aa123456 aaaaaa 111111 123123 123321 654321 666666 696969 121212 112233 159753
    147258 123qwe thunder lightning storm rainbow starlight moonlight sunset ocean river
    mountain laptop desktop keyboard mouse monitor printer android iphone samsung google
    facebook twitter youtube netflix amazon microsoft windows linux ubuntu yankees
    cowboys lakers steelers packers arsenal chelsea liverpool barcelona madrid beautiful
    sweetheart darling sweetie babygirl babyboy mother father sister brother
"""
COMMON = frozenset(_COMMON_WORDS.split())


def _predictable(previous: str, current: str) -> bool:
    """Same character, next or previous in the alphabet or digits, or a keyboard neighbour."""
    if current == previous or abs(ord(current) - ord(previous)) == 1:
        return True
    pair = (previous + current).lower()
    return any(pair in row or pair[::-1] in row for row in _ROWS)


def unpredictable_count(secret: str) -> int:
    return sum(1 for i, c in enumerate(secret) if i == 0 or not _predictable(secret[i - 1], c))


def _repeats_a_piece(secret: str) -> bool:
    """``abcabcabcabc``, ``adminadminadm``: the secret is a short piece repeated."""
    size = len(secret)
    for unit in range(1, size // 2 + 1):
        piece = secret[:unit]
        if (piece * (size // unit + 1))[:size] == secret:
            return True
    return False


def _core(secret: str) -> str:
    """The secret lowercased, without the digits and symbols padding it, and with
    look-alike characters read as letters (``P@ssw0rd!2026`` -> ``password``)."""
    return secret.lower().strip(_PADDING).translate(_LEET).strip(_PADDING)


def check_secret_strength(
    secret: str, *, field: str, kind: str = "password", username: str | None = None
) -> None:
    """Refuse a guessable secret. ``kind`` ("password" or "passphrase") prefixes the codes:
    ``{kind}_too_short``, ``{kind}_too_long``, ``{kind}_too_weak``.

    Raises InvalidInput naming ``field``; the message never quotes the secret."""
    if len(secret) < MIN_LENGTH:
        raise InvalidInput(
            f"the {kind} is too short: use at least {MIN_LENGTH} characters ({ADVICE})",
            code=f"{kind}_too_short",
            field=field,
        )
    if len(secret) > MAX_LENGTH:
        raise InvalidInput(
            f"the {kind} is longer than {MAX_LENGTH} characters",
            code=f"{kind}_too_long",
            field=field,
        )

    def weak(why: str) -> InvalidInput:
        return InvalidInput(
            f"the {kind} is easy to guess: {why}; choose another ({ADVICE})",
            code=f"{kind}_too_weak",
            field=field,
        )

    core = _core(secret)
    if username and len(username) >= 3:
        name = username.lower()
        if core in (name, name[::-1]) or secret.lower().strip(_PADDING) in (name, name[::-1]):
            raise weak("it is the username with digits or symbols added")
    variants = {core, core.replace("i", "l"), secret.lower().strip(_PADDING)}
    if variants & COMMON:
        raise weak("it is a common password or word with digits or symbols added")
    if (
        _repeats_a_piece(secret)
        or _repeats_a_piece(core)
        or (unpredictable_count(secret) < MIN_UNPREDICTABLE)
    ):
        raise weak("it is mostly repeated or sequential characters (like 'aaaa', '1234', 'qwerty')")


def _strong_passphrase(value: SecretStr) -> SecretStr:
    plain = value.get_secret_value()
    if plain:  # an empty one is left to the exporter, which answers passphrase_required
        try:
            check_secret_strength(plain, field="passphrase", kind="passphrase")
        except InvalidInput as exc:
            raise PydanticCustomError(exc.code, exc.message) from None
    return value


# A passphrase Lemur encrypts with (exports): printable, and not guessable.
NewPassphrase = Annotated[
    SecretStr, AfterValidator(check_secret), AfterValidator(_strong_passphrase)
]
