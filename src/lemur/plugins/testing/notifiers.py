"""The contract of notifiers: a notice reaches the peer once, a peer that cannot be reached
is a transient error (to be retried), and secrets stay out of reprs and error messages."""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from pydantic import BaseModel, SecretBytes, SecretStr

from lemur.plugins.base import Notifier
from lemur.plugins.errors import PluginTransientError
from lemur.plugins.values import Notice, Recipient


def secret_values(model: BaseModel) -> Iterator[str]:
    """The plaintext of every ``SecretStr``/``SecretBytes`` set in ``model`` (nested too)."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            yield value.get_secret_value()
        elif isinstance(value, SecretBytes):
            yield value.get_secret_value().decode("utf-8", "replace")
        elif isinstance(value, BaseModel):
            yield from secret_values(value)


def contract_notice(*, html: bool = True) -> Notice:
    """A notice whose subject and body carry a fresh marker, to find it at the peer."""
    marker = _secrets.token_hex(6)
    return Notice(
        event="contract",
        subject=f"Lemur contract test {marker}",
        body=f"Contract body {marker}\nCertificates: www.example.com (12 days left)",
        html=f"<p>Contract body {marker}</p>" if html else None,
        certificate_ids=(1, 2),
        message_id=f"<lemur.contract.{marker}@lemur.invalid>",
        link="https://lemur.example.test/certificates/1",
    )


class NotifierContract:
    """Checks a notifier against a real peer.

    Fixtures to provide:

    - ``notifier``: an instance configured for a peer that accepts messages;
    - ``recipients``: the recipients to send to (addresses the peer accepts);
    - ``deliveries``: a callable returning the raw text of every message the peer received
      since the test started (an email's source, a POST body, ...);
    - ``unreachable_notifier``: the same plugin configured for a peer that is down (a closed
      port), with the same secrets.
    """

    def test_send_delivers_one_message(
        self,
        notifier: Notifier[Any],
        recipients: Sequence[Recipient],
        deliveries: Callable[[], list[str]],
    ) -> None:
        before = len(deliveries())
        notice = contract_notice()
        notifier.send(notice, recipients)
        got = deliveries()[before:]
        assert len(got) == 1, f"{len(got)} deliveries for one send"
        assert notice.subject in got[0]
        assert notice.body.splitlines()[0] in got[0]

    def test_plain_text_only_notice(
        self,
        notifier: Notifier[Any],
        recipients: Sequence[Recipient],
        deliveries: Callable[[], list[str]],
    ) -> None:
        before = len(deliveries())
        notice = contract_notice(html=False)
        notifier.send(notice, recipients)
        got = deliveries()[before:]
        assert len(got) == 1
        assert notice.subject in got[0]

    def test_unreachable_peer_is_transient(
        self, unreachable_notifier: Notifier[Any], recipients: Sequence[Recipient]
    ) -> None:
        with pytest.raises(PluginTransientError) as caught:
            unreachable_notifier.send(contract_notice(), recipients)
        for secret in secret_values(unreachable_notifier.options):
            assert secret not in caught.value.message
            assert secret not in str(caught.value)

    def test_secrets_never_in_repr(self, notifier: Notifier[Any]) -> None:
        shown = [repr(notifier.options), str(notifier.options), notifier.options.model_dump_json()]
        for secret in secret_values(notifier.options):
            for text in shown:
                assert secret not in text
