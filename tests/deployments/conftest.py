"""Deployments through Lemur: the API fixtures, a real nginx, and a short verification
window (an endpoint that serves something else fails in half a second, not ten)."""

from __future__ import annotations

import pytest

from lemur.config import Settings
from tests.api.conftest import client, world
from tests.peers.nginx import nginx_peer
from tests.peers.sshd import sshd_peer

__all__ = ["client", "nginx_peer", "sshd_peer", "world"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"deployment_verify_seconds": 0.5})
