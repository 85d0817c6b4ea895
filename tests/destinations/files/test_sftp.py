"""The sftp destination against a real OpenSSH server: nginx serving what it deployed after
the remote reload, the pinned host key, trust on first use, key and password logins,
permissions, a full tmpfs, failing and hanging remote reloads, and symlinks."""

from __future__ import annotations

import ipaddress
import shlex
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from lemur.builtin.files import SFTPDestination
from lemur.clock import SystemClock
from lemur.errors import LemurError
from lemur.outbound import OutboundPolicy, plugin_context
from lemur.plugins.errors import (
    PluginConfigurationError,
    PluginError,
    PluginRejected,
    PluginTransientError,
)
from lemur.plugins.values import Bundle, PluginContext
from tests.destinations.files.conftest import files_in, sftp_plugin
from tests.destinations.files.test_directory import DEFAULT_FILES, fill, holds, pem
from tests.peers.nginx import NginxPeer
from tests.peers.sshd import SSHDPeer


@pytest.fixture
def remote(sshd_peer: SSHDPeer) -> Path:
    """A fresh directory of the deployer user (on this host: the tests read it directly)."""
    return sshd_peer.remote_directory()


def other_host_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


def test_nginx_serves_the_certificate_deployed_over_sftp_after_the_remote_reload(
    sshd_peer: SSHDPeer,
    nginx_peer: NginxPeer,
    bundles: tuple[Bundle, Bundle],
    context: PluginContext,
) -> None:
    first, second = bundles
    site = "b.example.test"
    plugin = sftp_plugin(
        sshd_peer,
        nginx_peer.site_directory(site),
        context,
        reload_command=shlex.join(nginx_peer.reload_argv),  # runs as deployer, like nginx
    )
    ref = plugin.deploy(first)
    nginx_peer.wait_for(site, first.certificate)
    _, chain = nginx_peer.served(site)
    assert chain == [first.certificate, *first.chain]
    plugin.deploy(second, previous=ref)
    nginx_peer.wait_for(site, second.certificate)


def test_the_same_bundle_again_writes_nothing_and_runs_no_reload(
    sshd_peer: SSHDPeer, remote: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    first, second = bundles
    marker = remote.parent / f"{remote.name}.reloads"
    plugin = sftp_plugin(sshd_peer, remote, context, reload_command=f"echo reloaded >> {marker}")
    ref = plugin.deploy(first)
    assert ref.value == f"sftp://deployer@127.0.0.1:{sshd_peer.port}{remote}"
    assert marker.read_text() == "reloaded\n"
    inodes = {name: (remote / name).stat().st_ino for name in DEFAULT_FILES}
    assert plugin.deploy(first, previous=ref) == ref
    assert marker.read_text() == "reloaded\n"
    assert inodes == {name: (remote / name).stat().st_ino for name in DEFAULT_FILES}
    plugin.deploy(second, previous=ref)
    assert marker.read_text() == "reloaded\nreloaded\n"
    marker.unlink()


def test_replaced_files_are_kept_as_previous_with_their_modes(
    sshd_peer: SSHDPeer, remote: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    first, second = bundles
    plugin = sftp_plugin(sshd_peer, remote, context, file_mode="0640")
    ref = plugin.deploy(first)
    plugin.deploy(second, previous=ref)
    assert holds(remote, second)
    assert (remote / "cert.pem.previous").read_bytes() == pem(first.certificate)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in remote.iterdir()}
    assert modes == {
        "cert.pem": 0o640,
        "chain.pem": 0o640,
        "fullchain.pem": 0o640,
        "key.pem": 0o600,
        "cert.pem.previous": 0o640,
        "fullchain.pem.previous": 0o640,
        "key.pem.previous": 0o600,
    }
    assert {p.stat().st_uid for p in remote.iterdir()} == {sshd_peer.user.pw_uid}
    plugin.remove(ref)
    assert files_in(remote) == []


def test_a_host_key_other_than_the_pinned_one_is_refused_before_logging_in(
    sshd_peer: SSHDPeer, remote: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    pinned = other_host_key()
    plugin = sftp_plugin(sshd_peer, remote, context, host_key=pinned)
    for call in (lambda: plugin.deploy(bundles[0]), plugin.connect):
        with pytest.raises(PluginError) as caught:
            call()
        assert not isinstance(caught.value, PluginTransientError)
        assert caught.value.code == "host_key_mismatch"
        message = caught.value.message
        assert message.startswith(
            f"host key of 127.0.0.1:{sshd_peer.port} does not match the pinned key"
        )
        presented = subprocess.run(
            ["ssh-keygen", "-l", "-f", "-"],
            input=sshd_peer.host_public_key,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()[1]
        assert presented in message  # SHA256:... as ssh-keygen -l shows it
        assert "ssh-ed25519 SHA256:" in message.split("pinned key is", 1)[1]
    assert files_in(remote) == []


def test_without_a_pinned_key_nothing_is_trusted_unless_trust_on_first_use(
    sshd_peer: SSHDPeer, remote: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    unpinned = sftp_plugin(sshd_peer, remote, context, host_key=None)
    with pytest.raises(PluginConfigurationError) as caught:
        unpinned.connect()
    assert caught.value.field == "options.host_key"
    first_use = sftp_plugin(sshd_peer, remote, context, host_key=None, trust_on_first_use=True)
    with pytest.raises(PluginConfigurationError):
        first_use.deploy(bundles[0])  # deploying never trusts an unpinned key
    assert files_in(remote) == []
    connection = first_use.connect()
    assert isinstance(connection.options, SFTPDestination.Options)
    assert connection.options.host_key == sshd_peer.host_public_key
    assert "pinned on first use" in connection.summary
    assert connection.options.model_copy(update={"host_key": None}) == first_use.options
    pinned = SFTPDestination(connection.options, context)
    assert pinned.connect().options is None
    pinned.deploy(bundles[0])
    assert holds(remote, bundles[0])


def test_password_login_deploys(
    sshd_peer: SSHDPeer, remote: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    plugin = sftp_plugin(sshd_peer, remote, context, private_key=None, password=sshd_peer.password)
    assert "logged in" in plugin.connect().summary
    plugin.deploy(bundles[0])
    assert holds(remote, bundles[0])


def test_a_wrong_password_names_the_option_and_not_the_secret(
    sshd_peer: SSHDPeer, remote: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    wrong = "Wrong-pass-82d1e5"
    plugin = sftp_plugin(sshd_peer, remote, context, private_key=None, password=wrong)
    with pytest.raises(PluginConfigurationError) as caught:
        plugin.deploy(bundles[0])
    assert caught.value.field == "options.password"
    assert caught.value.code == "authentication_failed"
    assert wrong not in caught.value.message
    assert wrong not in str(caught.value)
    assert wrong not in repr(plugin.options)
    assert files_in(remote) == []


def test_an_unauthorized_key_names_the_private_key_option(
    sshd_peer: SSHDPeer, remote: Path, tmp_path: Path, context: PluginContext
) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")], check=True
    )
    plugin = sftp_plugin(sshd_peer, remote, context, private_key=(tmp_path / "k").read_text())
    with pytest.raises(PluginConfigurationError) as caught:
        plugin.connect()
    assert caught.value.field == "options.private_key"


@pytest.fixture
def encrypted_key(sshd_peer: SSHDPeer, tmp_path: Path) -> str:
    """The authorized client key, encrypted with a passphrase."""
    path = tmp_path / "client"
    path.write_text(sshd_peer.client_private_key)
    path.chmod(0o600)
    subprocess.run(
        ["ssh-keygen", "-q", "-p", "-P", "", "-N", "Key-phrase-4411", "-f", str(path)],
        check=True,
    )
    return path.read_text()


def test_an_encrypted_key_needs_its_passphrase(
    sshd_peer: SSHDPeer, remote: Path, encrypted_key: str, context: PluginContext
) -> None:
    missing = sftp_plugin(sshd_peer, remote, context, private_key=encrypted_key)
    with pytest.raises(PluginConfigurationError) as caught:
        missing.connect()
    assert caught.value.field == "options.private_key_passphrase"
    wrong = sftp_plugin(
        sshd_peer,
        remote,
        context,
        private_key=encrypted_key,
        private_key_passphrase="Not-the-phrase-90",
    )
    with pytest.raises(PluginConfigurationError) as caught:
        wrong.connect()
    assert caught.value.field == "options.private_key"
    assert "Not-the-phrase-90" not in str(caught.value)
    right = sftp_plugin(
        sshd_peer,
        remote,
        context,
        private_key=encrypted_key,
        private_key_passphrase="Key-phrase-4411",
    )
    assert "is writable" in right.connect().summary


def test_permission_denied_on_the_remote_directory_is_not_transient(
    sshd_peer: SSHDPeer, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    root_owned = sshd_peer.remote_directory(owner="root")
    plugin = sftp_plugin(sshd_peer, root_owned, context)
    for call in (lambda: plugin.deploy(bundles[0]), plugin.connect):
        with pytest.raises(PluginError) as caught:
            call()
        assert not isinstance(caught.value, PluginTransientError)
        assert caught.value.code == "permission_denied"
        assert str(root_owned) in caught.value.message
    assert files_in(root_owned) == []


def test_the_remote_directory_must_exist(
    sshd_peer: SSHDPeer, remote: Path, context: PluginContext
) -> None:
    with pytest.raises(PluginConfigurationError) as caught:
        sftp_plugin(sshd_peer, remote / "missing", context).connect()
    assert caught.value.field == "options.directory"


@pytest.fixture
def small_remote_tmpfs(sshd_peer: SSHDPeer, remote: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs owned by the deployer user."""
    mount = remote / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        sshd_peer.give(mount)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)
        mount.rmdir()


def test_a_full_remote_disk_fails_the_deployment_and_leaves_the_old_files_whole(
    sshd_peer: SSHDPeer,
    small_remote_tmpfs: Path,
    bundles: tuple[Bundle, Bundle],
    context: PluginContext,
) -> None:
    first, second = bundles
    plugin = sftp_plugin(sshd_peer, small_remote_tmpfs, context)
    plugin.deploy(first)
    fill(small_remote_tmpfs)
    with pytest.raises(PluginError) as caught:
        plugin.deploy(second)
    assert not isinstance(caught.value, PluginTransientError)
    assert "nothing was replaced" in caught.value.message
    assert holds(small_remote_tmpfs, first)
    assert files_in(small_remote_tmpfs) == sorted([*DEFAULT_FILES, "filler"])


def test_a_failing_remote_reload_reports_status_and_stderr(
    sshd_peer: SSHDPeer, remote: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    command = "echo checking >&2; echo 'nginx: [emerg] no such file' >&2; exit 4"
    plugin = sftp_plugin(sshd_peer, remote, context, reload_command=command)
    with pytest.raises(PluginError) as caught:
        plugin.deploy(bundles[0])
    assert not isinstance(caught.value, PluginTransientError)
    assert caught.value.message == (
        f"reload command on 127.0.0.1:{sshd_peer.port} exited with status 4: "
        "checking | nginx: [emerg] no such file"
    )
    assert holds(remote, bundles[0])  # Lemur rolls back by deploying the previous bundle


def test_a_hanging_remote_reload_is_transient(
    sshd_peer: SSHDPeer, remote: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    plugin = sftp_plugin(sshd_peer, remote, context, reload_command="sleep 3", reload_timeout=0.4)
    started = time.monotonic()
    with pytest.raises(PluginTransientError) as caught:
        plugin.deploy(bundles[0])
    assert time.monotonic() - started < 2
    assert caught.value.message.startswith("reload command did not finish in 0.4 s")
    assert holds(remote, bundles[0])


def test_a_remote_symlink_out_of_the_base_directory_is_refused(
    sshd_peer: SSHDPeer, remote: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    outside = sshd_peer.remote_directory()
    (outside / "key.pem").write_text("not yours\n")
    sshd_peer.give(outside / "key.pem")
    (remote / "key.pem").symlink_to(outside / "key.pem")
    plugin = sftp_plugin(sshd_peer, remote, context)
    with pytest.raises(PluginConfigurationError) as caught:
        plugin.deploy(bundles[0])
    assert caught.value.field == "options.key_file"
    assert files_in(remote) == ["key.pem"]
    assert (outside / "key.pem").read_text() == "not yours\n"


def test_the_outbound_policy_is_asked_before_connecting(
    sshd_peer: SSHDPeer, remote: Path, bundles: tuple[Bundle, Bundle]
) -> None:
    policy = OutboundPolicy(denied=(ipaddress.ip_network("127.0.0.0/8"),), timeout=5)
    with plugin_context(policy, SystemClock(), "tests.destinations") as denied:
        plugin = sftp_plugin(sshd_peer, remote, denied)
        with pytest.raises(PluginRejected) as caught:
            plugin.deploy(bundles[0])
    assert caught.value.code == "outbound_address_denied"
    assert files_in(remote) == []


def test_a_port_without_an_ssh_server_is_transient(
    sshd_peer: SSHDPeer, nginx_peer: NginxPeer, remote: Path, context: PluginContext
) -> None:
    plugin = sftp_plugin(sshd_peer, remote, context, port=nginx_peer.port, timeout=1)
    with pytest.raises(PluginTransientError) as caught:
        plugin.connect()
    assert f"127.0.0.1:{nginx_peer.port}" in caught.value.message
    assert isinstance(caught.value, LemurError)


def test_changed_modes_apply_to_the_same_bundle_without_a_reload(
    sshd_peer: SSHDPeer, remote: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    marker = remote.parent / f"{remote.name}.reloads"
    reload = f"echo reloaded >> {marker}"
    ref = sftp_plugin(sshd_peer, remote, context, reload_command=reload).deploy(bundles[0])
    changed = sftp_plugin(sshd_peer, remote, context, reload_command=reload, file_mode="0600")
    assert changed.deploy(bundles[0], previous=ref) == ref
    assert {stat.S_IMODE(p.stat().st_mode) for p in remote.iterdir()} == {0o600}
    assert marker.read_text() == "reloaded\n"
    marker.unlink()


def test_removing_from_a_remote_directory_that_is_gone_is_not_an_error(
    sshd_peer: SSHDPeer, remote: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    gone = remote / "gone"
    gone.mkdir()
    sshd_peer.give(gone)
    plugin = sftp_plugin(sshd_peer, gone, context)
    ref = plugin.deploy(bundles[0])
    for path in gone.iterdir():
        path.unlink()
    gone.rmdir()
    plugin.remove(ref)
    assert not plugin.verify(ref, bundles[0])
