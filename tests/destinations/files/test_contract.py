"""The destination contract kit against both plugins: directory on a fresh local directory,
sftp against the real sshd peer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from lemur.builtin.files import DirectoryDestination, SFTPDestination
from lemur.plugins.testing import (
    DestinationContract,
    PluginClassContract,
    UnreachableDestinationContract,
    VerifierContract,
)
from lemur.plugins.values import DeploymentRef, PluginContext
from tests.destinations.files.conftest import directory_plugin, sftp_options, sftp_plugin
from tests.peers.server import free_port
from tests.peers.sshd import SSHDPeer


def first_certificate(path: Path) -> x509.Certificate | None:
    """What the target holds, read from the file system itself (not through the plugin)."""
    if not path.exists():
        return None
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


class TestDirectoryClass(PluginClassContract):
    @pytest.fixture
    def plugin_class(self) -> type[DirectoryDestination]:
        return DirectoryDestination

    @pytest.fixture
    def plugin_options(self) -> dict[str, Any]:
        return {"directory": "/srv/certs", "reload_command": "nginx -s reload"}


class TestSFTPClass(PluginClassContract):
    @pytest.fixture
    def plugin_class(self) -> type[SFTPDestination]:
        return SFTPDestination

    @pytest.fixture
    def plugin_options(self, sshd_peer: SSHDPeer) -> dict[str, Any]:
        return sftp_options(sshd_peer, "/srv/certs", private_key_passphrase="not-really-used-1")


class TestDirectoryContract(DestinationContract, VerifierContract):
    @pytest.fixture
    def destination(self, tmp_path: Path, context: PluginContext) -> DirectoryDestination:
        return directory_plugin(tmp_path, context)

    @pytest.fixture
    def deployed(self) -> Any:
        return lambda ref: first_certificate(Path(ref.value) / "cert.pem")


def _remote_path(ref: DeploymentRef) -> Path:
    # sftp://USER@HOST:PORT/DIR: the sshd peer runs on this host, so DIR is local too
    return Path("/" + ref.value.split("/", 3)[3])


class TestSFTPContract(DestinationContract, VerifierContract, UnreachableDestinationContract):
    @pytest.fixture
    def destination(self, sshd_peer: SSHDPeer, context: PluginContext) -> SFTPDestination:
        return sftp_plugin(sshd_peer, sshd_peer.remote_directory(), context)

    @pytest.fixture
    def deployed(self) -> Any:
        return lambda ref: first_certificate(_remote_path(ref) / "cert.pem")

    @pytest.fixture
    def unreachable_destination(
        self, sshd_peer: SSHDPeer, context: PluginContext
    ) -> SFTPDestination:
        return sftp_plugin(sshd_peer, "/srv/certs", context, port=free_port())
