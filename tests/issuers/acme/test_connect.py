"""Connecting an ACME authority: the account registered (with External Account Binding
where the CA requires it) or found again, and every way the options can be wrong, each
told in plain words naming the option at fault."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from lemur.builtin.acme import ACMEIssuer, ACMEOptions
from lemur.plugins.errors import PluginConfigurationError, PluginRejected, PluginTransientError
from tests.issuers.acme.conftest import base_options, make_context, make_request
from tests.peers.pebble import EAB_HMAC_KEY, EAB_KID, PebblePeer
from tests.peers.server import free_port


def connect(options: dict[str, Any]) -> ACMEOptions:
    stored = ACMEIssuer(ACMEOptions.model_validate(options), make_context(None)).connect().options
    assert isinstance(stored, ACMEOptions)
    return stored


def test_connect_registers_an_account_and_returns_its_key_and_url(pebble: PebblePeer) -> None:
    issuer = ACMEIssuer(ACMEOptions.model_validate(base_options(pebble)), make_context(None))

    connection = issuer.connect()

    stored = connection.options
    assert isinstance(stored, ACMEOptions)
    assert stored.account_key is not None
    assert stored.account_key.get_secret_value().startswith("-----BEGIN PRIVATE KEY-----")
    assert stored.account_url is not None
    assert "/my-account/" in stored.account_url
    assert "account registered" in connection.summary
    assert stored.account_url in connection.summary
    assert stored.directory_url == pebble.directory_url  # the rest is kept


def test_connect_again_with_the_stored_key_finds_the_same_account(pebble: PebblePeer) -> None:
    first = connect(base_options(pebble))
    assert first.account_key is not None

    again = ACMEIssuer(first, make_context(None)).connect()

    assert "account found" in again.summary
    assert isinstance(again.options, ACMEOptions)
    assert again.options.account_url == first.account_url


def test_connect_with_an_existing_key_but_no_url_finds_its_account(pebble: PebblePeer) -> None:
    first = connect(base_options(pebble))
    assert first.account_key is not None
    options = base_options(pebble, account_key=first.account_key.get_secret_value())

    assert connect(options).account_url == first.account_url


def test_terms_must_be_agreed_to_register(pebble: PebblePeer) -> None:
    with pytest.raises(PluginConfigurationError) as caught:
        connect(base_options(pebble, agree_to_terms=False))

    assert caught.value.field == "options.agree_to_terms"
    assert "terms of service" in caught.value.message
    assert "Do%20what%20thou%20wilt" in caught.value.message  # Pebble's terms URL


def test_eab_with_the_right_key_registers(pebble_eab: PebblePeer) -> None:
    options = base_options(pebble_eab, eab_kid=EAB_KID, eab_hmac_key=EAB_HMAC_KEY)

    stored = connect(options)

    assert stored.account_url is not None
    assert "/my-account/" in stored.account_url
    assert f'Binding with CA using kid "{EAB_KID}"' in pebble_eab.log_path.read_text()


def test_eab_with_a_wrong_key_is_refused_in_plain_words(pebble_eab: PebblePeer) -> None:
    wrong = base64.urlsafe_b64encode(b"not-the-mac-key-the-ca-gave-us!!").decode().rstrip("=")
    options = base_options(pebble_eab, eab_kid=EAB_KID, eab_hmac_key=wrong)

    with pytest.raises(PluginRejected) as caught:
        connect(options)

    message = caught.value.message
    assert caught.value.code == "acme_eab_refused"
    assert f"External Account Binding for key ID {EAB_KID}" in message
    assert wrong not in message
    assert EAB_HMAC_KEY not in message


def test_eab_with_an_unknown_key_id_is_refused(pebble_eab: PebblePeer) -> None:
    options = base_options(pebble_eab, eab_kid="no-such-kid", eab_hmac_key=EAB_HMAC_KEY)

    with pytest.raises(PluginRejected, match="no-such-kid") as caught:
        connect(options)

    assert EAB_HMAC_KEY not in caught.value.message


def test_a_ca_requiring_eab_says_so_when_none_is_given(pebble_eab: PebblePeer) -> None:
    with pytest.raises(PluginConfigurationError, match="requires External Account Binding") as c:
        connect(base_options(pebble_eab))

    assert c.value.field == "options.eab_kid"


def test_unreachable_directory_is_a_transient_error_naming_the_host() -> None:
    port = free_port()
    options = {"directory_url": f"https://127.0.0.1:{port}/dir", "agree_to_terms": True}

    with pytest.raises(PluginTransientError) as caught:
        connect(options)

    assert caught.value.code == "peer_unreachable"
    assert f"127.0.0.1:{port}" in caught.value.message


def test_a_name_that_does_not_resolve_is_a_transient_error() -> None:
    with pytest.raises(PluginTransientError, match=r"acme\.invalid"):
        connect({"directory_url": "https://acme.invalid/directory", "agree_to_terms": True})


def test_a_denied_address_is_refused_before_connecting() -> None:
    with pytest.raises(PluginRejected, match=r"169\.254\.169\.254") as caught:
        connect({"directory_url": "https://169.254.169.254/dir", "agree_to_terms": True})

    assert caught.value.code == "outbound_address_denied"


def test_a_directory_served_by_an_untrusted_ca_names_ca_bundle(pebble: PebblePeer) -> None:
    options = base_options(pebble)
    del options["ca_bundle"]

    with pytest.raises(PluginConfigurationError, match="not trusted") as caught:
        connect(options)

    assert caught.value.field == "options.ca_bundle"


@pytest.mark.parametrize(("path", "said"), [("/roots/0", "unexpected reply"), ("/nope", "404")])
def test_a_url_that_is_not_an_acme_directory_names_directory_url(
    pebble: PebblePeer, path: str, said: str
) -> None:
    options = base_options(pebble, directory_url=f"{pebble.management_url}{path}")

    with pytest.raises(PluginConfigurationError, match="not an ACME directory") as caught:
        connect(options)

    assert caught.value.field == "options.directory_url"
    assert said in caught.value.message


def test_issuing_before_connecting_says_to_connect_first(pebble: PebblePeer) -> None:
    issuer = ACMEIssuer(ACMEOptions.model_validate(base_options(pebble)), make_context(None))

    with pytest.raises(PluginConfigurationError, match="connect the authority first") as caught:
        issuer.issue(make_request(["a.example.test"], common_name="a.example.test"))

    assert caught.value.field == "options.account_key"


def test_a_ca_bundle_that_did_not_sign_the_directory_names_ca_bundle(pebble: PebblePeer) -> None:
    # Pebble's issuing root is a CA, but not the one that signed its directory's TLS.
    options = base_options(pebble, ca_bundle=pebble.roots)

    with pytest.raises(PluginConfigurationError, match="not trusted") as caught:
        connect(options)

    assert caught.value.field == "options.ca_bundle"
