"""What an authority allows a requester to choose for a leaf (subject fields besides the CN,
extended key usages), as its row stores it: the names, comma-separated."""

from __future__ import annotations

from collections.abc import Iterable

from lemur.crypto.subjects import SubjectField
from lemur.crypto.usages import ExtendedKeyUsageName


def stored(values: Iterable[str]) -> str:
    return ",".join(values)


def subject_fields_of(text: str | None) -> tuple[SubjectField, ...]:
    """The stored names in the enum's order. A name this version does not know (written by
    a newer one) allows nothing here."""
    names = set((text or "").split(","))
    return tuple(f for f in SubjectField if f.value in names)


def extended_key_usages_of(text: str | None) -> tuple[ExtendedKeyUsageName, ...]:
    names = set((text or "").split(","))
    return tuple(u for u in ExtendedKeyUsageName if u.value in names)
