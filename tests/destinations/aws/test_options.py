"""The options of aws-iam and aws-acm: what is refused, in plain words."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lemur.builtin.aws_destinations import ACMOptions, IAMOptions
from tests.destinations.aws.conftest import ROLE_B
from tests.peers.moto import ACCESS_KEY_ID, SECRET_ACCESS_KEY

BASE = {"region": "eu-west-1"}


@pytest.mark.parametrize("model", [IAMOptions, ACMOptions])
@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"access_key_id": ACCESS_KEY_ID}, "give both access_key_id and secret_access_key"),
        ({"secret_access_key": SECRET_ACCESS_KEY}, "give both access_key_id"),
        ({"external_id": "lemur-prod-7f3a"}, "external_id is used only with role_arn"),
        ({"role_arn": "arn:aws:iam::12345:role/x"}, "role_arn"),
        ({"region": "Europe"}, "region"),
        ({"endpoint_url": "http://moto.example.test:5000"}, "http:// only to a loopback"),
        ({"endpoint_url": "https://user:pw@vpce.example.test"}, "must not carry credentials"),
        ({"sts_endpoint_url": "ftp://sts.example.test"}, "https:// URL"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_wrong_account_options_are_refused_in_plain_words(
    model: type[IAMOptions | ACMOptions], changes: dict[str, Any], said: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate({**BASE, **changes})
    assert said in str(caught.value)
    messages = " ".join(e["msg"] for e in caught.value.errors())
    assert "pw@" not in messages  # the message never repeats the URL


@pytest.mark.parametrize("path", ["cloudfront", "/cloudfront", "/a b/", "//x/" + "y" * 600 + "/"])
def test_iam_path_must_start_and_end_with_a_slash(path: str) -> None:
    with pytest.raises(ValidationError):
        IAMOptions.model_validate({**BASE, "path": path})


def test_iam_path_defaults_to_the_root() -> None:
    assert IAMOptions.model_validate(BASE).path == "/"
    assert IAMOptions.model_validate({**BASE, "path": "/cloudfront/lemur/"}).path == (
        "/cloudfront/lemur/"
    )


@pytest.mark.parametrize(("tag", "said"), [("aws:name", "reserved for AWS"), ("a;b", "name_tag")])
def test_acm_name_tag_is_a_tag_key_lemur_may_set(tag: str, said: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ACMOptions.model_validate({**BASE, "name_tag": tag})
    assert said in str(caught.value)


def test_acm_name_tag_empty_means_none() -> None:
    assert ACMOptions.model_validate({**BASE, "name_tag": ""}).name_tag is None
    assert ACMOptions.model_validate(BASE).name_tag == "Name"


def test_role_with_everything_else_from_lemur() -> None:
    options = IAMOptions.model_validate({**BASE, "role_arn": ROLE_B, "external_id": "x-1"})
    assert options.credentials.role_arn == ROLE_B
    assert options.credentials.access_key_id is None
    assert options.credentials.session_name == "lemur"
