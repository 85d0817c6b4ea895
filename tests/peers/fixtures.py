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

from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

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
    "_moto_server_session",
    "_slack_receiver_session",
    "_smtp_server_session",
    "_webhook_receiver_session",
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


class _Peer(Protocol):
    def stop(self) -> None: ...


P = TypeVar("P", bound=_Peer)


def _peer_fixtures(
    name: str, start: Callable[[pytest.TempPathFactory], P], clear: Callable[[P], object]
) -> tuple[Any, Any]:
    """Two fixtures for a peer: ``_{name}_session`` starts it once per session (per xdist
    worker) and stops it at the end; ``{name}`` hands it to each test cleared."""

    @pytest.fixture(scope="session", name=f"_{name}_session")
    def session_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[P]:
        peer = start(tmp_path_factory)
        yield peer
        peer.stop()

    @pytest.fixture(name=name)
    def cleared_peer(request: pytest.FixtureRequest) -> P:
        peer: P = request.getfixturevalue(f"_{name}_session")
        clear(peer)
        return peer

    return session_peer, cleared_peer


_smtp_server_session, smtp_server = _peer_fixtures(
    "smtp_server", lambda tmp: start_smtp(tmp.mktemp("smtp")), SMTPPeer.clear
)
_moto_server_session, moto_server = _peer_fixtures(
    "moto_server", lambda tmp: start_moto(tmp.mktemp("moto")), MotoServer.reset
)
_slack_receiver_session, slack_receiver = _peer_fixtures(
    "slack_receiver", lambda _: SlackReceiver(), SlackReceiver.clear
)
_webhook_receiver_session, webhook_receiver = _peer_fixtures(
    "webhook_receiver", lambda _: WebhookReceiver(WEBHOOK_SECRET), WebhookReceiver.clear
)
