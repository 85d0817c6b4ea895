"""Forms generated from a plugin's JSON Schema (lemur.ui.forms.schema_fields, values_for and
the schema_fields macro), on the real notifier plugins, whose options have many kinds of
field: what a user types into the generated inputs comes back as the options the plugin
validates, secrets are password inputs never refilled, enums are selects."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from lemur.builtin.acme import ACMEIssuer
from lemur.notifiers.email import EmailNotifier
from lemur.notifiers.ses import SESNotifier
from lemur.notifiers.slack import SlackNotifier
from lemur.notifiers.webhook import WebhookNotifier
from lemur.plugins.options import options_schema, public_options, validate_options
from lemur.ui.forms import Form, FormErrors, schema_fields, values_for
from lemur.ui.visit import templates

# What a user types into each generated input (as text, the way a browser posts it).
TYPED: dict[str, dict[str, list[str]]] = {
    "email": {
        "options.host": ["smtp.example.com"],
        "options.port": ["465"],
        "options.security": ["tls"],
        "options.username": ["lemur"],
        "options.password": ["  spaces kept  "],
        "options.from_address": ["lemur@example.com"],
        "options.from_name": ["Lemur"],
        "options.ca_bundle": [""],
        "options.timeout": ["12.5"],
    },
    "ses": {
        "options.region": ["eu-west-1"],
        "options.source": ["lemur@example.com"],
        "options.access_key_id": ["AKIAEXAMPLEKEY0001"],
        "options.from_name": [""],
        "options.secret_access_key": ["aws-secret"],
        "options.endpoint_url": [""],
        "options.timeout": ["20"],
    },
    "slack": {
        "options.webhook_url": ["https://hooks.slack.com/services/T0/B0/xyz"],
        "options.timeout": [""],
    },
    "webhook": {
        "options.url": ["https://hooks.example.com/lemur"],
        "options.secret": ["a-shared-secret-of-20"],
        "options.timeout": ["3"],
    },
}
# The same options as an API client sends them (JSON).
AS_JSON: dict[str, dict[str, Any]] = {
    "email": {
        "host": "smtp.example.com",
        "port": 465,
        "security": "tls",
        "username": "lemur",
        "password": "  spaces kept  ",
        "from_address": "lemur@example.com",
        "from_name": "Lemur",
        "timeout": 12.5,
    },
    "ses": {
        "region": "eu-west-1",
        "source": "lemur@example.com",
        "access_key_id": "AKIAEXAMPLEKEY0001",
        "secret_access_key": "aws-secret",
        "timeout": 20,
    },
    "slack": {"webhook_url": "https://hooks.slack.com/services/T0/B0/xyz"},
    "webhook": {
        "url": "https://hooks.example.com/lemur",
        "secret": "a-shared-secret-of-20",
        "timeout": 3,
    },
}
PLUGINS = {p.slug: p for p in (EmailNotifier, SESNotifier, SlackNotifier, WebhookNotifier)}


def render(fields: Any, *, values: dict[str, str], secrets_set: tuple[str, ...] = ()) -> str:
    page = templates.env.from_string(
        '{% import "macros.html" as m with context %}{{ m.schema_fields(fields, secrets_set) }}'
    )
    return page.render(fields=fields, secrets_set=secrets_set, values=values, errors=FormErrors())


def inputs(html: str) -> dict[str, str]:
    """name -> the tag of each input, select and textarea."""
    found = {}
    for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", html):
        name = re.search(r'\bname="([^"]+)"', tag)
        if name and 'type="hidden"' not in tag:
            found[name.group(1)] = tag
    return found


@pytest.mark.parametrize("slug", sorted(PLUGINS))
def test_what_is_typed_into_the_generated_form_is_what_the_plugin_validates(slug: str) -> None:
    plugin = PLUGINS[slug]
    schema = options_schema(plugin.Options)
    fields = schema_fields(schema)
    typed = TYPED[slug]
    # Every input the form shows is one the user filled in (or left empty), and back.
    assert {f.name for f in fields} == set(typed)
    options = values_for(schema, Form(typed), prefix="options.")
    validated = validate_options(plugin.Options, options)
    assert validated == validate_options(plugin.Options, AS_JSON[slug])
    # Shown again (after an error elsewhere): values refilled, secrets never.
    html = render(fields, values={k: v[0] for k, v in typed.items()})
    tags = inputs(html)
    secrets = set(public_options(validated)["secrets_set"])  # type: ignore[arg-type]
    for f in fields:
        key = f.name.removeprefix("options.")
        tag = tags[f.name]
        if key in secrets:
            assert f.kind == "password"
            assert 'type="password"' in tag
            assert "value=" not in tag
            assert typed[f.name][0] not in html
        elif f.kind in ("text", "number") and typed[f.name][0]:
            assert f'value="{typed[f.name][0]}"' in tag


def test_email_options_render_as_the_inputs_their_types_call_for() -> None:
    fields = {f.name: f for f in schema_fields(options_schema(EmailNotifier.Options))}
    assert fields["options.security"].kind == "select"
    assert fields["options.security"].choices == ("starttls", "tls", "none")
    assert fields["options.port"].kind == "number"
    assert (fields["options.port"].minimum, fields["options.port"].maximum) == (1, 65535)
    assert fields["options.password"].kind == "password"
    assert fields["options.ca_bundle"].kind == "textarea"
    assert fields["options.host"].required
    assert not fields["options.username"].required
    html = render(list(fields.values()), values={}, secrets_set=("password",))
    tags = inputs(html)
    assert 'type="number"' in tags["options.port"]
    assert 'value="587"' in tags["options.port"]  # the default, shown
    assert '<option value="starttls" selected>' in html
    assert 'autocomplete="new-password"' in tags["options.password"]
    # A secret already stored says so, and that leaving it empty keeps it.
    assert "leave empty to keep the current value" in html


class Nested(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role_arn: str | None = None
    external_id: SecretStr | None = None


class Rich(BaseModel):
    """The kinds no notifier has today: a list, a boolean, a nested object."""

    model_config = ConfigDict(extra="forbid")

    zones: list[str] = Field(default_factory=list)
    verify: bool = True
    auth: Nested = Field(default_factory=Nested)


def test_lists_booleans_and_nested_objects_round_trip() -> None:
    schema = options_schema(Rich)
    fields = {f.name: f.kind for f in schema_fields(schema)}
    assert fields == {
        "options.zones": "list",
        "options.verify": "checkbox",
        "options.auth.role_arn": "text",
        "options.auth.external_id": "password",
    }
    typed = Form(
        {
            "options.zones": ["example.com\n\n internal.example.com "],
            "options.verify": ["false", "true"],  # the hidden "false", then the checked box
            "options.auth.role_arn": ["arn:aws:iam::1:role/x"],
            "options.auth.external_id": ["ext-1"],
        }
    )
    rich = Rich.model_validate(values_for(schema, typed, prefix="options."))
    assert rich.zones == ["example.com", "internal.example.com"]
    assert rich.verify is True
    assert rich.auth.role_arn == "arn:aws:iam::1:role/x"
    assert rich.auth.external_id is not None
    assert rich.auth.external_id.get_secret_value() == "ext-1"
    unchecked = values_for(schema, Form({"options.verify": ["false"]}), prefix="options.")
    assert Rich.model_validate(unchecked).verify is False


def test_pem_options_are_textareas_and_a_pem_secret_is_never_refilled() -> None:
    """A single-line input drops line breaks, which PEM needs: a CA bundle and an ACME
    account key are textareas; the key, a secret, stays empty when the form comes back."""
    fields = {f.name: f for f in schema_fields(options_schema(ACMEIssuer.Options))}
    assert (fields["options.ca_bundle"].kind, fields["options.ca_bundle"].secret) == (
        "textarea",
        False,
    )
    assert (fields["options.account_key"].kind, fields["options.account_key"].secret) == (
        "textarea",
        True,
    )
    assert fields["options.eab_hmac_key"].kind == "password"
    bundle = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    key = "-----BEGIN PRIVATE KEY-----\nsecret-key-body\n-----END PRIVATE KEY-----"
    html = render(
        list(fields.values()),
        values={"options.ca_bundle": bundle, "options.account_key": key},
        secrets_set=("account_key",),
    )
    assert bundle in html
    assert "secret-key-body" not in html
    assert 'autocomplete="off"' in inputs(html)["options.account_key"]
    assert "leave empty to keep the current value" in html
