"""Forms become the API's own request models; their errors come back per field."""

from __future__ import annotations

import pytest

from lemur.certificates.schemas import CertificateRequest
from lemur.errors import InvalidInput
from lemur.notifiers.email import EmailNotifier
from lemur.plugins.options import options_schema, validate_options
from lemur.ui.forms import FORM, Form, FormErrors, FormInvalid, parse, schema_fields, values_for


def form(**fields: str | list[str]) -> Form:
    return Form(
        {k.replace("__", "."): v if isinstance(v, list) else [v] for k, v in fields.items()}
    )


def test_a_textarea_becomes_a_list_and_empty_fields_take_the_defaults() -> None:
    request = parse(
        CertificateRequest,
        form(
            team_id="3",
            authority_id="1",
            subject_alternative_names__dns_names="shop.example.test\n\n  www.shop.example.test  \n",
            validity_days="",
            common_name="",
        ),
    )
    assert request.team_id == 3
    assert request.subject_alternative_names.dns_names == [
        "shop.example.test",
        "www.shop.example.test",
    ]
    assert request.validity_days is None  # empty: the authority's default
    assert request.common_name is None


def test_errors_name_the_field_in_plain_words() -> None:
    with pytest.raises(FormInvalid) as caught:
        parse(CertificateRequest, form(team_id="three", validity_days="0"))
    errors = caught.value.errors
    assert errors["team_id"] == "Enter a whole number."
    assert errors["validity_days"] == "Enter 1 or more."
    assert errors["authority_id"] == "This is required."


def test_an_error_on_one_item_shows_at_its_list() -> None:
    errors = FormErrors({"subject_alternative_names.dns_names[1]": "not a valid name"})
    assert errors.of("subject_alternative_names.dns_names") == "not a valid name"
    assert errors.of("subject_alternative_names") == "not a valid name"
    assert errors.of("subject_alternative_names.ip_addresses") is None


def test_a_service_error_lands_on_its_field_or_the_form() -> None:
    exc = InvalidInput("too long", code="x", field="validity_days")
    assert FormErrors.of_error(exc) == {"validity_days": "too long"}
    assert FormErrors.of_error(InvalidInput("no", code="y")) == {FORM: "no"}


def test_an_unchecked_box_sends_false_and_a_checked_one_true() -> None:
    schema = {
        "type": "object",
        "properties": {"enabled": {"type": "boolean"}, "other": {"type": "boolean"}},
    }
    assert values_for(schema, form(enabled=["false", "true"], other="false")) == {
        "enabled": True,
        "other": False,
    }
    assert values_for(schema, form()) == {}  # not in the form: left to the default


def test_plugin_options_render_from_their_schema_and_read_back() -> None:
    schema = options_schema(EmailNotifier.Options)
    fields = {f.name: f for f in schema_fields(schema)}
    assert fields["options.password"].kind == "password"  # a secret: never refilled
    assert fields["options.security"].kind == "select"
    assert fields["options.security"].choices == ("starttls", "tls", "none")
    assert fields["options.port"].kind == "number"
    assert fields["options.port"].default == 587
    assert fields["options.host"].required
    assert not fields["options.username"].required
    assert fields["options.ca_bundle"].kind == "textarea"

    posted = form(
        options__host="smtp.example.test",
        options__port="2525",
        options__security="none",
        options__from_address="lemur@example.test",
        options__username="",
        options__password="",
    )
    values = values_for(schema, posted, prefix="options.")
    options = validate_options(EmailNotifier.Options, values)
    assert (options.host, options.port, options.security) == ("smtp.example.test", 2525, "none")
    assert options.username is None
    assert options.password is None
