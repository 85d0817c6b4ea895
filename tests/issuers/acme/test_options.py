"""Options that do not match the schema are refused before anything is contacted, each
with a message naming the problem (and never repeating a secret)."""

from __future__ import annotations

from typing import Any

import pytest

from lemur.builtin.acme import ACMEOptions
from lemur.errors import InvalidInput
from lemur.plugins.options import options_schema, validate_options

GOOD: dict[str, Any] = {"directory_url": "https://acme.example.test/dir", "agree_to_terms": True}
DNS: dict[str, Any] = {
    **GOOD,
    "challenge": "dns-01",
    "dns_server": "ns1.example.test",
    "dns_zone": "example.test",
    "tsig_key_name": "lemur-key",
    "tsig_secret": "c2VjcmV0LXRzaWcta2V5LXZhbHVlLTEyMzQ1Njc4OTA=",
}
SECRET_LOOKING = "S3cr3t-But-Not!Base64%%"


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({}, "directory_url"),
        ({**GOOD, "directory_url": "http://acme.example.test/dir"}, "https://"),
        ({**GOOD, "directory_url": "not a url"}, "not a URL"),
        ({**GOOD, "contact_email": "nobody"}, "not an email address"),
        ({**GOOD, "challenge": "tls-alpn-01"}, "challenge"),
        ({**GOOD, "eab_kid": "kid-1"}, "give both eab_kid and eab_hmac_key"),
        ({**GOOD, "eab_kid": "kid-1", "eab_hmac_key": SECRET_LOOKING}, "base64url"),
        ({**GOOD, "challenge": "dns-01"}, "dns-01 needs dns_server, dns_zone"),
        ({**DNS, "tsig_secret": SECRET_LOOKING}, "not valid base64"),
        ({**DNS, "dns_port": 0}, "dns_port"),
        ({**DNS, "tsig_algorithm": "hmac-md5"}, "tsig_algorithm"),
        ({**DNS, "dns_server": "bad host!"}, "not a host name"),
        ({**GOOD, "account_key": SECRET_LOOKING}, "not an unencrypted PEM private key"),
        ({**GOOD, "account_url": "https://acme.example.test/acct/1"}, "needs the account_key"),
        ({**GOOD, "ca_bundle": "-----BEGIN CERTIFICATE-----\nxx"}, "not PEM certificates"),
        ({**GOOD, "unknown_option": 1}, "Extra inputs are not permitted"),
    ],
)
def test_options_not_matching_the_schema_are_refused(options: dict[str, Any], said: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_options(ACMEOptions, options)  # as Lemur checks what a user sends

    assert caught.value.code == "invalid_plugin_options"
    assert caught.value.field is not None
    assert caught.value.field.startswith("options")
    assert said in caught.value.message
    assert SECRET_LOOKING not in caught.value.message


def test_dns01_options_are_accepted_and_the_zone_normalised() -> None:
    options = ACMEOptions.model_validate({**DNS, "dns_zone": "Example.TEST."})

    assert options.dns_zone == "example.test"
    assert options.dns_port == 53
    assert options.tsig_algorithm == "hmac-sha256"


def test_every_option_has_a_title_and_a_description() -> None:
    schema = options_schema(ACMEOptions)
    for name, field in schema["properties"].items():
        assert field.get("title"), name
        assert field.get("description"), name
