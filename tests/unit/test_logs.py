"""The JSON log line: its fields, the request context, exceptions without local values; and
the settings that choose the log format and the metrics address."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from pydantic import ValidationError

from lemur.config import Settings
from lemur.logs import (
    JsonFormatter,
    RequestContext,
    begin_request,
    end_request,
    request_id_from,
    set_principal,
)


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    return logging.LogRecord(
        "lemur.test", logging.WARNING, __file__, 1, msg, args, sys.exc_info() if exc else None
    )


def test_a_line_outside_a_request() -> None:
    line = json.loads(JsonFormatter().format(_record("hello %s", "world")))
    assert line["message"] == "hello world"
    assert line["level"] == "WARNING"
    assert line["logger"] == "lemur.test"
    assert line["time"].endswith("+00:00")
    assert "request_id" not in line
    assert "principal" not in line


def test_a_line_inside_a_request_names_it_and_its_principal() -> None:
    token = begin_request(RequestContext(request_id="abc", method="POST", route="/x/{id}"))
    try:
        before = json.loads(JsonFormatter().format(_record("m")))
        set_principal("user:alice")
        after = json.loads(JsonFormatter().format(_record("m")))
    finally:
        end_request(token)
    assert before["request_id"] == "abc"
    assert "principal" not in before
    assert after["principal"] == "user:alice"
    assert after["route"] == "/x/{id}"
    assert after["method"] == "POST"
    set_principal("user:nobody")  # outside a request: nothing to name, no error


def _fail(password: str) -> None:
    hidden = f"local-{password}"  # a local variable: never in the log
    raise RuntimeError("failed for " + hidden[:6])


def test_an_exception_is_one_field_with_the_traceback_and_no_local_values() -> None:
    secret = "hunter" + "2-Secret"  # built at run time: the source lines shown do not hold it
    try:
        _fail(secret)
    except RuntimeError:
        text = JsonFormatter().format(_record("it broke", exc=True))
    assert "\n" not in text  # one line
    line = json.loads(text)
    assert "Traceback" in line["exception"]
    assert "_fail" in line["exception"]
    assert "RuntimeError" in line["exception"]
    assert "hunter2" not in text


@pytest.mark.parametrize(
    ("header", "kept"),
    [
        ("abc-123_x.y", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("", False),
        ("a b", False),
        ('a"b', False),
        ("a\nb", False),
        (None, False),
    ],
)
def test_request_ids_from_clients_are_kept_only_if_short_and_safe(
    header: str | None, kept: bool
) -> None:
    got = request_id_from(header)
    assert (got == header) is kept
    assert 1 <= len(got) <= 64


def test_settings_refuse_a_bad_log_format_or_metrics_address() -> None:
    assert Settings(log_format="json", metrics_address="[::1]:9464").log_format == "json"
    with pytest.raises(ValidationError, match="log_format"):
        Settings(log_format="xml")
    for bad in ("9464", "localhost", "127.0.0.1:0", "127.0.0.1:99999", ":9464", "host:port"):
        with pytest.raises(ValidationError, match="HOST:PORT"):
            Settings(metrics_address=bad)
