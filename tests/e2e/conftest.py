"""The end-to-end story's peers: the session's SMTP server (tests.peers.fixtures), sshd and
nginx for the destination web-1."""

from tests.peers.fixtures import *  # noqa: F403
from tests.peers.nginx import nginx_peer
from tests.peers.sshd import sshd_peer

__all__ = ["nginx_peer", "sshd_peer"]
