"""Options of the four notifiers: validation with the field at fault (422 invalid input),
and secrets that never show in repr, str, the public view or error messages."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from lemur.errors import InvalidInput
from lemur.notifiers.email import EmailOptions
from lemur.notifiers.ses import SESOptions
from lemur.notifiers.slack import SlackOptions
from lemur.notifiers.webhook import WebhookOptions
from lemur.plugins.options import public_options, validate_options
from lemur.plugins.registry import Registry

SMTP_PASSWORD = "smtp-Pa55word-value"
SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX"
AWS_SECRET = "aws/secret+value0123456789abcdef"
HMAC_SECRET = "hmac-secret-value-0123456789"

VALID: dict[str, tuple[type[BaseModel], dict[str, Any]]] = {
    "email": (
        EmailOptions,
        {
            "host": "smtp.example.com",
            "username": "lemur",
            "password": SMTP_PASSWORD,
            "from_address": "lemur@example.com",
        },
    ),
    "ses": (
        SESOptions,
        {
            "region": "eu-west-1",
            "source": "lemur@example.com",
            "access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "secret_access_key": AWS_SECRET,
        },
    ),
    "slack": (SlackOptions, {"webhook_url": SLACK_URL}),
    "webhook": (WebhookOptions, {"url": "https://hooks.example.com/lemur", "secret": HMAC_SECRET}),
}
SECRETS = {"email": SMTP_PASSWORD, "ses": AWS_SECRET, "slack": SLACK_URL, "webhook": HMAC_SECRET}


def test_the_four_notifiers_are_registered() -> None:
    assert Registry.load().slugs("notifier") == ["email", "ses", "slack", "webhook"]


@pytest.mark.parametrize("slug", sorted(VALID))
def test_secrets_never_shown(slug: str) -> None:
    model_cls, data = VALID[slug]
    options = validate_options(model_cls, data)
    secret = SECRETS[slug]
    for text in (repr(options), str(options), options.model_dump_json()):
        assert secret not in text
    shown = public_options(options)
    assert secret not in str(shown)
    assert shown["secrets_set"]


@pytest.mark.parametrize(
    ("slug", "change", "field"),
    [
        ("email", {"host": "smtp example com"}, "options.host"),
        ("email", {"port": 70000}, "options.port"),
        ("email", {"port": 0}, "options.port"),
        ("email", {"from_address": "not-an-address"}, "options.from_address"),
        ("email", {"security": "ssl"}, "options.security"),
        ("email", {"ca_bundle": "-----BEGIN CERTIFICATE-----\nnope\n"}, "options.ca_bundle"),
        ("email", {"from_name": "Lemur\r\nBcc: x@example.com"}, "options.from_name"),
        ("email", {"smtp_host": "x"}, "options.smtp_host"),
        ("ses", {"region": "Europe"}, "options.region"),
        ("ses", {"source": "lemur"}, "options.source"),
        ("ses", {"endpoint_url": "ftp://x.example.com"}, "options.endpoint_url"),
        ("ses", {"access_key_id": "lower-case!"}, "options.access_key_id"),
        ("slack", {"webhook_url": "not a url"}, "options.webhook_url"),
        ("slack", {"webhook_url": "javascript:alert(1)"}, "options.webhook_url"),
        ("slack", {"channel": "#general"}, "options.channel"),
        ("webhook", {"url": "https://"}, "options.url"),
        ("webhook", {"url": "file:///etc/passwd"}, "options.url"),
        ("webhook", {"secret": "short"}, "options.secret"),
        ("webhook", {"timeout": 0}, "options.timeout"),
    ],
)
def test_bad_options_name_the_field(slug: str, change: dict[str, Any], field: str) -> None:
    model_cls, data = VALID[slug]
    with pytest.raises(InvalidInput) as caught:
        validate_options(model_cls, {**data, **change})
    assert caught.value.status == 422
    assert (caught.value.code, caught.value.field) == ("invalid_plugin_options", field)
    assert SECRETS[slug] not in caught.value.message


@pytest.mark.parametrize(
    ("slug", "change"),
    [
        ("email", {"password": None}),  # username without password
        ("email", {"security": "none"}),  # a password in clear text
        ("ses", {"secret_access_key": None}),
    ],
)
def test_inconsistent_options_are_refused_without_echoing_secrets(
    slug: str, change: dict[str, Any]
) -> None:
    model_cls, data = VALID[slug]
    with pytest.raises(InvalidInput) as caught:
        validate_options(model_cls, {**data, **change})
    assert caught.value.field == "options"
    assert SECRETS[slug] not in caught.value.message


def test_invalid_secret_url_is_not_echoed() -> None:
    secret_junk = "https://hooks.slack.com/services/ T000 /secret-part"
    with pytest.raises(InvalidInput) as caught:
        validate_options(SlackOptions, {"webhook_url": secret_junk})
    assert "secret-part" not in caught.value.message


def test_defaults() -> None:
    email = validate_options(EmailOptions, VALID["email"][1])
    assert (email.port, email.security, email.timeout) == (587, "starttls", 10.0)
    ses = validate_options(SESOptions, {"region": "us-east-1", "source": "a@example.com"})
    assert ses.access_key_id is None  # default credential chain
