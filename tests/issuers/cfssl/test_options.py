"""Options that do not fit the schema are refused with a plain message naming the option,
and never with the value (which may be a pasted secret)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from lemur.builtin.cfssl import CFSSLIssuer, CFSSLOptions
from lemur.clock import SystemClock
from lemur.errors import InvalidInput
from lemur.plugins.errors import PluginConfigurationError
from lemur.plugins.options import options_schema, validate_options
from lemur.plugins.values import PluginContext
from tests.issuers.cfssl.conftest import make_request

URL = "https://cfssl.example.test:8888"
KEY = "00112233445566778899aabbccddeeff"


@pytest.fixture
def cfssl_ca_pem() -> str:
    """A CA certificate in PEM (any will do for the shape checks)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "TLS CA")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def refusal(options: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        validate_options(CFSSLOptions, options)
    return caught.value


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        ({}, "options.url", "Field required"),
        ({"url": "cfssl.example.test:8888"}, "options.url", "http:// or https://"),
        ({"url": "ftp://cfssl.example.test"}, "options.url", "http:// or https://"),
        ({"url": "https://"}, "options.url", "no host"),
        ({"url": "https://ops:hunter2@cfssl.example.test"}, "options.url", "user name or password"),
        ({"url": URL + "/?x=1"}, "options.url", "no query"),
        ({"url": URL, "auth_key": "not-hex-at-all-not-hex-at-all-00"}, "options.auth_key", "hex"),
        ({"url": URL, "auth_key": KEY + "f"}, "options.auth_key", "even number"),
        ({"url": URL, "auth_key": "00112233"}, "options.auth_key", "shorter than 16 bytes"),
        ({"url": URL, "profile": "server auth"}, "options.profile", "letters, digits"),
        ({"url": URL, "label": "a/b"}, "options.label", "letters, digits"),
        ({"url": URL, "ca_bundle": "not a certificate"}, "options.ca_bundle", "not PEM"),
        ({"url": URL, "timeout": 0}, "options.timeout", "greater than 0"),
        ({"url": URL, "token": "x"}, "options.token", "Extra inputs"),
    ],
)
def test_options_off_the_schema_are_refused(
    options: dict[str, Any], field: str, words: str
) -> None:
    error = refusal(options)
    assert error.field == field
    assert words in error.message


def test_a_bundle_for_a_plain_http_url_is_refused(cfssl_ca_pem: str) -> None:
    error = refusal({"url": "http://cfssl.example.test", "ca_bundle": cfssl_ca_pem})
    assert "https://" in error.message


def test_messages_never_repeat_the_key() -> None:
    almost = "zz" + KEY[2:]
    for options in ({"url": URL, "auth_key": almost}, {"url": f"https://{KEY}:{KEY}@x.test"}):
        error = refusal(options)
        assert KEY[2:] not in f"{error.message} {error.to_dict()}"


def test_the_key_is_kept_as_given_and_hidden(cfssl_ca_pem: str) -> None:
    options = CFSSLOptions.model_validate(
        {"url": URL + "/", "auth_key": f" {KEY.upper()} ", "profile": "", "ca_bundle": cfssl_ca_pem}
    )
    assert options.url == URL
    assert options.profile is None
    assert options.auth_key is not None
    assert options.auth_key.get_secret_value() == KEY.upper()
    assert KEY.upper() not in repr(options)


def test_schema_has_titles_and_descriptions() -> None:
    schema = options_schema(CFSSLOptions)
    properties = schema["properties"]
    assert isinstance(properties, dict)
    assert set(properties) == {"url", "ca_bundle", "label", "profile", "auth_key", "timeout"}
    for name, node in properties.items():
        assert node.get("title"), name
        assert node.get("description"), name
    assert schema["required"] == ["url"]
    assert properties["auth_key"]["anyOf"][0]["writeOnly"] is True


def test_no_outbound_client_means_no_connection() -> None:
    """The issuer never opens an unguarded connection of its own."""
    bare = PluginContext(clock=SystemClock(), logger=logging.getLogger("t"))
    issuer = CFSSLIssuer(CFSSLOptions(url=URL), bare)
    with pytest.raises(PluginConfigurationError, match="outbound HTTP client"):
        issuer.issue(make_request())


def test_validation_error_is_pydantics_for_direct_use() -> None:
    with pytest.raises(ValidationError):
        CFSSLOptions.model_validate({"url": "nope"})
