"""The inventory's search box reads a text by its shape (lemur.certificates.lookup)."""

from __future__ import annotations

import pytest

from lemur.certificates.lookup import SearchKind, kind_of

SHA256 = "e5470abc5c4efdcf7ba883f4c47cc0ec71cf1f753f17386a07717ba4109db997"
SHA1 = "194a8e11e6b85d2f3403bc2dd1449c8b5bd29b6e"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("api.example.com", SearchKind.NAME),
        ("*.example.com", SearchKind.NAME),
        ("example", SearchKind.NAME),
        ("db01", SearchKind.NAME),  # hex digits, but too short for a serial
        ("cafe", SearchKind.NAME),
        ("10.0.0.1", SearchKind.NAME),
        ("2001:db8::1", SearchKind.NAME),
        ("2001:0db8:0000:0000:0000:ff00:0042:8329", SearchKind.NAME),
        ("[fe80::1]", SearchKind.NAME),
        ("bücher.example", SearchKind.NAME),
        ("0x1000", SearchKind.SERIAL),
        ("10:00", SearchKind.SERIAL),
        ("3a 4f 1b", SearchKind.SERIAL),
        ("5b:2c:e6:23:26:70:82:22", SearchKind.SERIAL),
        ("457720542241384496946845265401666674690198005790", SearchKind.SERIAL),
        ("502ce62326708222", SearchKind.SERIAL),
        (SHA256, SearchKind.FINGERPRINT),
        (SHA256.upper(), SearchKind.FINGERPRINT),
        (":".join(SHA256[i : i + 2] for i in range(0, 64, 2)), SearchKind.FINGERPRINT),
        (SHA1, SearchKind.FINGERPRINT),  # or a 20-octet serial: tried second
        (f"  {SHA1}  ", SearchKind.FINGERPRINT),
    ],
)
def test_the_shape_of_the_text_decides_what_it_searches(text: str, kind: SearchKind) -> None:
    assert kind_of(text) is kind
