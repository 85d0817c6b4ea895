"""Session-scoped fixtures for the notifier peers, for any test package to import into its
conftest.py::

    from tests.peers.fixtures import *  # noqa: F403  (the fixtures below)

Each xdist worker gets its own peers on free loopback ports. The fixtures hand out the
session's peer *cleared* (no recorded messages, normal behaviour), so tests do not see each
other's messages:

- ``notifier_context`` -> a PluginContext with the guarded HTTP client and default policy.
- ``smtp_server`` -> :class:`tests.peers.smtp.SMTPPeer`: ``host``, ``port`` (STARTTLS+AUTH),
  ``tls_port`` (SMTPS+AUTH), ``plain_port``, ``cafile``/``ca_pem``, ``username``,
  ``password``, ``messages`` (:class:`ReceivedMail`), ``with_message_id()``, ``clear()``.
- ``moto_server`` -> :class:`tests.peers.moto.MotoServer` (state reset):
  ``endpoint_url``, ``client(service)``, ``verify_ses_identity(address)``,
  ``ses_messages()``, ``reset()``.
- ``slack_receiver`` -> :class:`tests.peers.receivers.SlackReceiver`: ``url`` (the secret
  webhook URL), ``requests``, ``payloads()``, ``down()``, ``slow(s)``, ``respond(...)``.
- ``webhook_receiver`` -> :class:`tests.peers.receivers.WebhookReceiver`: ``url``,
  ``secret`` (:data:`WEBHOOK_SECRET`), ``requests`` with ``verified``, ``verified()``, and
  the same behaviour switches.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lemur.clock import SystemClock
from lemur.outbound import OutboundPolicy, plugin_context
from lemur.plugins.values import PluginContext
from tests.peers.moto import MotoServer, start_moto
from tests.peers.receivers import SlackReceiver, WebhookReceiver
from tests.peers.smtp import SMTPPeer, start_smtp

WEBHOOK_SECRET = "whsec-test-9f8e7d6c5b4a3210"

__all__ = [
    "WEBHOOK_SECRET",
    "_moto_session",
    "_slack_session",
    "_smtp_session",
    "_webhook_session",
    "moto_server",
    "notifier_context",
    "slack_receiver",
    "smtp_server",
    "webhook_receiver",
]


@pytest.fixture
def notifier_context() -> Iterator[PluginContext]:
    """The context the notification service gives plugins: a guarded client, the default
    address policy (loopback allowed), the real clock (receivers check timestamps)."""
    with plugin_context(OutboundPolicy(timeout=5), SystemClock(), "tests.notifiers") as ctx:
        yield ctx


@pytest.fixture(scope="session")
def _smtp_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SMTPPeer]:
    peer = start_smtp(tmp_path_factory.mktemp("smtp"))
    yield peer
    peer.stop()


@pytest.fixture
def smtp_server(_smtp_session: SMTPPeer) -> SMTPPeer:
    _smtp_session.clear()
    return _smtp_session


@pytest.fixture(scope="session")
def _moto_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = start_moto(Path(tmp_path_factory.mktemp("moto")))
    yield server
    server.stop()


@pytest.fixture
def moto_server(_moto_session: MotoServer) -> MotoServer:
    _moto_session.reset()
    return _moto_session


@pytest.fixture(scope="session")
def _slack_session() -> Iterator[SlackReceiver]:
    receiver = SlackReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def slack_receiver(_slack_session: SlackReceiver) -> SlackReceiver:
    _slack_session.clear()
    return _slack_session


@pytest.fixture(scope="session")
def _webhook_session() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(WEBHOOK_SECRET)
    yield receiver
    receiver.stop()


@pytest.fixture
def webhook_receiver(_webhook_session: WebhookReceiver) -> WebhookReceiver:
    _webhook_session.clear()
    return _webhook_session
