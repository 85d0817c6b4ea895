"""Deployments through Lemur: the API fixtures, a real nginx, and a short verification
window (an endpoint that serves something else fails in half a second, not ten)."""

from __future__ import annotations

import pytest

from lemur.config import Settings
from tests.api.conftest import client, world
from tests.destinations.aws.conftest import pki
from tests.peers.fixtures import _moto_server_session, moto_server
from tests.peers.nginx import nginx_peer
from tests.peers.sshd import sshd_peer

__all__ = [
    "_moto_server_session",
    "client",
    "moto_server",
    "nginx_peer",
    "pki",
    "sshd_peer",
    "world",
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"deployment_verify_seconds": 0.5})
