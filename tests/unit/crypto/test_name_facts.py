"""The name check's pure parts: classification, the apex/www pair, what a wildcard covers
(checked against the matcher the inventory uses), and the country list's provenance."""

from __future__ import annotations

import iso3166
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lemur.crypto.countries import ISO_3166_ALPHA2
from lemur.crypto.name_facts import classify, examine, wildcard_coverage, www_partner
from lemur.crypto.names import SubjectAltNames, wildcard_covers
from lemur.errors import InvalidInput


def test_the_country_codes_are_pkilints() -> None:
    assert set(iso3166.countries_by_alpha2) == ISO_3166_ALPHA2


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("example.com", "dns"),
        ("*.example.com", "dns"),
        ("192.0.2.1", "ip"),
        ("[2001:db8::1]", "ip"),
        ("2001:db8::1", "ip"),
        ("ops@example.com", "email"),
        ("https://example.com/x", "uri"),
        ("urn:example:a", "uri"),
        ("bad..name", "dns"),
    ],
)
def test_classify(value: str, kind: str) -> None:
    assert classify(value) == kind


@pytest.mark.parametrize(
    ("name", "partner"),
    [
        ("shop.example.test", "www.shop.example.test"),
        ("example.test", "www.example.test"),
        ("www.x.test", "x.test"),
        ("www.test", None),
        ("intranet", None),
        ("*.example.test", None),
    ],
)
def test_www_partner(name: str, partner: str | None) -> None:
    assert www_partner(name) == partner


@given(st.from_regex(r"[a-z][a-z0-9]{0,10}(\.[a-z][a-z0-9]{0,10}){1,3}", fullmatch=True))
def test_the_wildcard_explanation_is_the_matchers(base: str) -> None:
    coverage = wildcard_coverage(f"*.{base}")
    assert coverage is not None
    assert wildcard_covers(f"*.{base}", coverage.example)
    for name in coverage.not_covered:
        assert not wildcard_covers(f"*.{base}", name)


@given(st.text(max_size=40))
def test_examine_agrees_with_issuance(value: str) -> None:
    facts = examine(value)
    kind = {"dns": "dns_names", "ip": "ip_addresses", "email": "emails", "uri": "uris"}
    if facts.error is None:
        assert facts.sans == SubjectAltNames.create(**{kind[facts.kind]: [value]})
        return
    with pytest.raises(InvalidInput) as refused:
        SubjectAltNames.create(**{kind[facts.kind]: [value]})
    assert (refused.value.code, refused.value.message) == (facts.error.code, facts.error.message)
