"""The end-to-end story's peers: the session's SMTP server (tests.peers.fixtures)."""

from tests.peers.fixtures import *  # noqa: F403
