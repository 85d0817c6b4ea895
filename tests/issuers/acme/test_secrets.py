"""No secret (TSIG secret, EAB MAC key, account key) in any log line (the acme library's
debug output included) or error message, through a whole DNS-01 issuance, an EAB
registration and the errors a wrong TSIG secret or EAB key give."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

import pytest

from lemur.builtin.acme import ACMEIssuer, ACMEOptions
from lemur.plugins.errors import PluginConfigurationError, PluginError, PluginRejected
from lemur.plugins.values import Issued
from tests.issuers.acme.conftest import (
    base_options,
    dns_options,
    make_context,
    make_request,
    unique,
)
from tests.peers.pebble import EAB_HMAC_KEY, EAB_KID, PebblePeer

WRONG_TSIG = base64.b64encode(b"a-wrong-tsig-secret-for-the-test").decode()
WRONG_EAB = base64.urlsafe_b64encode(b"a-wrong-eab-mac-key-for-the-test").decode().rstrip("=")


def secrets_of(pebble: PebblePeer, account: dict[str, Any]) -> list[str]:
    pem_lines = [
        line
        for line in account["account_key"].splitlines()
        if line and not line.startswith("-----")
    ]
    return [pebble.tsig_secret, EAB_HMAC_KEY, WRONG_TSIG, WRONG_EAB, *pem_lines]


def test_no_secret_in_logs_or_errors(
    pebble: PebblePeer,
    pebble_eab: PebblePeer,
    acme_account: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, the acme library's request dumps too
    errors: list[PluginError] = []

    eab = base_options(pebble_eab, eab_kid=EAB_KID, eab_hmac_key=EAB_HMAC_KEY)
    ACMEIssuer(ACMEOptions.model_validate(eab), make_context(None)).connect()

    issuer = ACMEIssuer(
        ACMEOptions.model_validate(dns_options(pebble, **acme_account)), make_context(None)
    )
    name = f"{unique('secret')}.example.test"
    request = make_request([name, f"*.{name}"], common_name=name)
    result = issuer.issue(request)
    while not isinstance(result, Issued):
        time.sleep(result.retry_after.total_seconds())
        result = issuer.poll(result.external_id, request)

    wrong_tsig = ACMEIssuer(
        ACMEOptions.model_validate(
            {**dns_options(pebble, **acme_account), "tsig_secret": WRONG_TSIG}
        ),
        make_context(None),
    )
    other = f"{unique('secret')}.example.test"
    with pytest.raises(PluginConfigurationError) as tsig_error:
        wrong_tsig.issue(make_request([other], common_name=other))
    assert tsig_error.value.field == "options.tsig_secret"
    assert "refused the TSIG key" in tsig_error.value.message
    errors.append(tsig_error.value)

    bad_eab = base_options(pebble_eab, eab_kid=EAB_KID, eab_hmac_key=WRONG_EAB)
    with pytest.raises(PluginRejected) as eab_error:
        ACMEIssuer(ACMEOptions.model_validate(bad_eab), make_context(None)).connect()
    errors.append(eab_error.value)

    assert "acme.client" in {r.name for r in caplog.records}  # the library's debug output
    text = caplog.text + "\n".join(f"{e.message} {e!r}" for e in errors)
    for secret in secrets_of(pebble, acme_account):
        assert secret not in text
