"""Fixtures for the directory and sftp destinations: two bundles (root -> intermediate ->
leaf, names a/b.example.test and 127.0.0.1), the real sshd and nginx peers, and plugin
factories."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lemur.builtin.files import DirectoryDestination, SFTPDestination
from lemur.clock import SystemClock
from lemur.outbound import OutboundPolicy, plugin_context
from lemur.plugins.values import Bundle, PluginContext
from tests.peers.nginx import nginx_peer
from tests.peers.sshd import SSHDPeer, sshd_peer

__all__ = ["nginx_peer", "sshd_peer"]

NAMES = ("a.example.test", "b.example.test")


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(
    cn: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, Any] | None
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer or (_name(cn), key)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .sign(issuer_key, hashes.SHA256())
    )


def make_bundle(
    issuer: x509.Certificate, issuer_key: Any, chain: tuple[x509.Certificate, ...], label: str
) -> Bundle:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{label}.example.test"))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in NAMES]
                + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(issuer_key, hashes.SHA256())
    )
    return Bundle(certificate=leaf, chain=chain, private_key=key, name=f"{label}.example.test")


@pytest.fixture(scope="session")
def bundles() -> tuple[Bundle, Bundle]:
    """Two bundles of one CA: leaf, chain (intermediate, root) and key each."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = _ca("Lemur Files Test Root", root_key, None)
    inter_key = ec.generate_private_key(ec.SECP256R1())
    inter = _ca("Lemur Files Test Intermediate", inter_key, (root.subject, root_key))
    return (
        make_bundle(inter, inter_key, (inter, root), "first"),
        make_bundle(inter, inter_key, (inter, root), "second"),
    )


@pytest.fixture
def context() -> Iterator[PluginContext]:
    """What Lemur gives destinations: the default outbound policy (loopback allowed)."""
    with plugin_context(OutboundPolicy(timeout=5), SystemClock(), "tests.destinations") as ctx:
        yield ctx


def directory_plugin(
    directory: Path, context: PluginContext, **changes: Any
) -> DirectoryDestination:
    options = DirectoryDestination.Options.model_validate({"directory": str(directory), **changes})
    return DirectoryDestination(options, context)


def sftp_options(peer: SSHDPeer, directory: Path | str, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "host": peer.host,
        "port": peer.port,
        "username": peer.username,
        "private_key": peer.client_private_key,
        "host_key": peer.host_public_key,
        "directory": str(directory),
        "timeout": 5,
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def sftp_plugin(
    peer: SSHDPeer, directory: Path | str, context: PluginContext, **changes: Any
) -> SFTPDestination:
    options = SFTPDestination.Options.model_validate(sftp_options(peer, directory, **changes))
    return SFTPDestination(options, context)


def files_in(directory: Path) -> list[str]:
    """Every entry of ``directory`` (temporary files included), sorted."""
    return sorted(p.name for p in directory.iterdir())
