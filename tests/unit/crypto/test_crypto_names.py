from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from lemur.crypto.names import (
    SubjectAltNames,
    covering_wildcards,
    normalize_dns_name,
    parse_ip_address,
    validate_email,
    validate_uri,
    wildcard_covers,
)
from lemur.errors import InvalidInput

VALID = [
    ("example.com", "example.com"),
    ("api.example.com.", "api.example.com"),
    ("API.Example.COM", "api.example.com"),
    ("bücher.example", "xn--bcher-kva.example"),
    ("BÜCHER.example", "xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("*.example.com", "*.example.com"),
    ("*.bücher.example", "*.xn--bcher-kva.example"),
    ("a-b.example.com", "a-b.example.com"),
    ("1password.com", "1password.com"),
    ("localhost", "localhost"),
    ("a" * 63 + ".com", "a" * 63 + ".com"),
]

INVALID = [
    ("", "invalid_dns_name"),
    (" example.com", "invalid_dns_name"),
    ("exa mple.com", "invalid_dns_name"),
    ("a" * 64 + ".com", "invalid_dns_name"),
    (".".join(["a" * 63] * 4), "invalid_dns_name"),  # 255 characters
    ("exa_mple.com", "invalid_dns_name"),
    ("-a.com", "invalid_dns_name"),
    ("a-.com", "invalid_dns_name"),
    ("a..com", "invalid_dns_name"),
    ("example.com..", "invalid_dns_name"),
    ("ex!ample.com", "invalid_dns_name"),
    ("xn--zz.com", "invalid_dns_name"),
    ("1.2.3", "invalid_dns_name"),
    ("a.*.example.com", "invalid_wildcard"),
    ("*a.example.com", "invalid_wildcard"),
    ("f*o.example.com", "invalid_wildcard"),
    ("*.*.example.com", "invalid_wildcard"),
    ("*.com", "invalid_wildcard"),
    ("*", "invalid_wildcard"),
    ("10.0.0.1", "ip_as_dns_name"),
    ("10.0.0.1.", "ip_as_dns_name"),
    ("::1", "ip_as_dns_name"),
    ("2001:db8::1", "ip_as_dns_name"),
]


@pytest.mark.parametrize(("value", "expected"), VALID)
def test_valid_dns_names_are_normalized(value: str, expected: str) -> None:
    assert normalize_dns_name(value) == expected


def test_name_of_253_characters_is_the_maximum() -> None:
    name = ".".join(["a" * 63] * 3 + ["a" * 61])
    assert len(name) == 253
    assert normalize_dns_name(name) == name
    with pytest.raises(InvalidInput):
        normalize_dns_name(name + "a")


@pytest.mark.parametrize(("value", "code"), INVALID)
def test_invalid_dns_names_are_rejected(value: str, code: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        normalize_dns_name(value, field="subject_alternative_names[2]")
    assert exc.value.code == code
    assert exc.value.field == "subject_alternative_names[2]"


def test_error_messages_explain_the_problem() -> None:
    with pytest.raises(InvalidInput, match="is 64 bytes; DNS labels are at most 63 bytes"):
        normalize_dns_name("a" * 64 + ".com")
    with pytest.raises(InvalidInput, match="underscore"):
        normalize_dns_name("exa_mple.com")
    with pytest.raises(InvalidInput, match="pass it as an IP address"):
        normalize_dns_name("10.0.0.1")


def test_ip_addresses() -> None:
    assert parse_ip_address("10.0.0.1") == ipaddress.IPv4Address("10.0.0.1")
    assert parse_ip_address("[2001:DB8::1]") == ipaddress.IPv6Address("2001:db8::1")
    for bad in ("10.0.0.256", "example.com", "fe80::1%eth0", ""):
        with pytest.raises(InvalidInput) as exc:
            parse_ip_address(bad, field="ip")
        assert exc.value.code == "invalid_ip_address"
        assert exc.value.field == "ip"


def test_emails() -> None:
    assert validate_email("Alice.Smith@Bücher.Example") == "Alice.Smith@xn--bcher-kva.example"
    for bad in (
        "alice",
        "@example.com",
        "alice@",
        "a b@example.com",
        "al..ice@example.com",
        "alice@exa_mple.com",
        "ålice@example.com",
        "alice@*.example.com",
    ):
        with pytest.raises(InvalidInput) as exc:
            validate_email(bad)
        assert exc.value.code == "invalid_email", bad


def test_uris() -> None:
    for good in (
        "https://example.com/path?q=1",
        "spiffe://cluster.local/ns/default/sa/web",
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
        "https://[2001:db8::1]:8443/",
    ):
        assert validate_uri(good) == good
    for bad in (
        "example.com/path",
        "https://exa mple.com/",
        "https:///path",
        "https://exa_mple.com/",
        "https://bücher.example/",
        "1http://x.example/",
    ):
        with pytest.raises(InvalidInput) as exc:
            validate_uri(bad)
        assert exc.value.code == "invalid_uri", bad


def test_subject_alt_names_round_trip_through_the_extension() -> None:
    sans = SubjectAltNames.create(
        dns_names=["API.example.com", "api.example.com.", "*.example.com"],
        ip_addresses=["192.0.2.1", "2001:db8::1"],
        emails=["ops@example.com"],
        uris=["https://example.com/"],
    )
    assert sans.dns_names == ("api.example.com", "*.example.com")
    extension = sans.to_extension()
    assert isinstance(extension, x509.SubjectAlternativeName)
    assert SubjectAltNames.from_extension(extension) == sans
    assert sans.all_names() == (
        "api.example.com",
        "*.example.com",
        "192.0.2.1",
        "2001:db8::1",
        "ops@example.com",
        "https://example.com/",
    )


def test_subject_alt_names_errors_name_the_entry() -> None:
    with pytest.raises(InvalidInput) as exc:
        SubjectAltNames.create(dns_names=["ok.example.com", "bad_name.example.com"])
    assert exc.value.field == "subject_alternative_names.dns_names[1]"


@pytest.mark.parametrize(
    ("pattern", "name", "covered"),
    [
        ("*.example.com", "api.example.com", True),
        ("*.Example.com.", "API.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", "*.example.com", False),
        ("*.com", "example.com", False),
        ("api.example.com", "api.example.com", False),
        ("*.example.com", "api.example.org", False),
    ],
)
def test_wildcard_covers(pattern: str, name: str, covered: bool) -> None:
    assert wildcard_covers(pattern, name) is covered


def test_covering_wildcards() -> None:
    assert covering_wildcards("api.example.com") == ["*.example.com"]
    assert covering_wildcards("API.Example.com.") == ["*.example.com"]
    assert covering_wildcards("example.com") == []
    assert covering_wildcards("*.example.com") == []


_label = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_dns_names = (
    st.lists(_label, min_size=2, max_size=5)
    .map(".".join)
    .filter(lambda n: not n.rsplit(".", 1)[-1].isdigit())
)
_any_text_names = st.text(alphabet=st.sampled_from("abcXYZ019-_.*äü"), min_size=0, max_size=30)


@given(st.one_of(_dns_names, _any_text_names))
def test_normalize_is_idempotent(value: str) -> None:
    try:
        normalized = normalize_dns_name(value)
    except InvalidInput:
        return
    assert normalize_dns_name(normalized) == normalized


@given(_dns_names, _dns_names)
def test_wildcard_covers_agrees_with_covering_wildcards(name: str, other: str) -> None:
    for pattern in covering_wildcards(name):
        assert wildcard_covers(pattern, name)
    pattern = "*." + other
    assert wildcard_covers(pattern, name) == (pattern in covering_wildcards(name))
    # A name's own parent wildcard is found whenever it is a permitted wildcard.
    parent = "*." + name.split(".", 1)[1]
    assert wildcard_covers(parent, name) == (parent in covering_wildcards(name))


@given(st.text(max_size=80))
def test_any_text_either_normalizes_or_raises_invalid_input(value: str) -> None:
    codes = []
    for check in (normalize_dns_name, validate_email, validate_uri, parse_ip_address):
        try:
            check(value)
        except InvalidInput as exc:  # anything else (ValueError, UnicodeError) fails the test
            codes.append(exc.code)
    assert all(code.startswith(("invalid_", "ip_as_dns_name")) for code in codes)
