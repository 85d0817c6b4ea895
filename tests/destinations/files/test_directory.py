"""The directory destination on real directories: nginx serving what it deployed, no write
and no reload for the same bundle, ``.previous`` copies, symlinks, permissions, a full
tmpfs, failing and hanging reload commands, and readers never seeing half a file."""

from __future__ import annotations

import errno
import json
import os
import pwd
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lemur.plugins.errors import (
    PluginConfigurationError,
    PluginError,
    PluginRejected,
    PluginTransientError,
)
from lemur.plugins.values import Bundle, DeploymentRef, PluginContext
from tests.destinations.files.conftest import directory_plugin, files_in
from tests.peers.nginx import NginxPeer
from tests.peers.sshd import USER

DEFAULT_FILES = ["cert.pem", "chain.pem", "fullchain.pem", "key.pem"]


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(bundle: Bundle) -> bytes:
    assert bundle.private_key is not None
    return bundle.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def holds(directory: Path, bundle: Bundle) -> bool:
    """Every default file holds exactly ``bundle``."""
    chain = b"".join(pem(c) for c in bundle.chain)
    return (
        (directory / "cert.pem").read_bytes() == pem(bundle.certificate)
        and (directory / "chain.pem").read_bytes() == chain
        and (directory / "fullchain.pem").read_bytes() == pem(bundle.certificate) + chain
        and (directory / "key.pem").read_bytes() == key_pem(bundle)
    )


def test_nginx_serves_the_deployed_certificate_after_the_reload(
    nginx_peer: NginxPeer, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    first, second = bundles
    site = "a.example.test"
    plugin = directory_plugin(
        nginx_peer.site_directory(site),
        context,
        owner=USER,  # nginx runs as deployer and reads the 0600 key
        reload_command=nginx_peer.reload_argv,
    )
    ref = plugin.deploy(first)
    nginx_peer.wait_for(site, first.certificate)
    _leaf, chain = nginx_peer.served(site)
    assert chain == [first.certificate, *first.chain]
    plugin.deploy(second, previous=ref)
    nginx_peer.wait_for(site, second.certificate)
    other, _ = nginx_peer.served("b.example.test")
    assert other not in (first.certificate, second.certificate)


def test_the_same_bundle_again_writes_nothing_and_runs_no_reload(
    tmp_path: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    first, second = bundles
    marker = tmp_path / "reloads"
    target = tmp_path / "certs"
    target.mkdir()
    plugin = directory_plugin(
        target, context, reload_command=["sh", "-c", f"echo reloaded >> {marker}"]
    )
    ref = plugin.deploy(first)
    assert marker.read_text() == "reloaded\n"
    inodes = {name: (target / name).stat().st_ino for name in DEFAULT_FILES}
    assert plugin.deploy(first, previous=ref) == ref == DeploymentRef(str(target))
    assert marker.read_text() == "reloaded\n"
    assert inodes == {name: (target / name).stat().st_ino for name in DEFAULT_FILES}
    assert files_in(target) == DEFAULT_FILES  # no .previous: nothing was replaced
    plugin.deploy(second, previous=ref)
    assert marker.read_text() == "reloaded\nreloaded\n"


def test_replaced_files_are_kept_as_previous_with_the_same_modes(
    tmp_path: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    first, second = bundles
    plugin = directory_plugin(tmp_path, context, file_mode="0640")
    ref = plugin.deploy(first)
    plugin.deploy(second, previous=ref)
    assert holds(tmp_path, second)
    assert (tmp_path / "cert.pem.previous").read_bytes() == pem(first.certificate)
    assert (tmp_path / "key.pem.previous").read_bytes() == key_pem(first)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    # both bundles have the same chain: chain.pem was not replaced, so it has no .previous
    assert modes == {
        **{n: 0o640 for n in ("cert.pem", "chain.pem", "fullchain.pem")},
        **{f"{n}.previous": 0o640 for n in ("cert.pem", "fullchain.pem")},
        "key.pem": 0o600,
        "key.pem.previous": 0o600,
    }
    plugin.remove(ref)
    assert files_in(tmp_path) == []  # the keys' .previous copies go too
    plugin.remove(ref)


def test_files_go_to_the_configured_owner_and_group(
    tmp_path: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    account = pwd.getpwnam(USER)
    plugin = directory_plugin(
        tmp_path, context, owner=USER, group=str(account.pw_gid), chain_file=None
    )
    plugin.deploy(bundles[0])
    owners = {p.name: (p.stat().st_uid, p.stat().st_gid) for p in tmp_path.iterdir()}
    assert owners == {
        n: (account.pw_uid, account.pw_gid) for n in ("cert.pem", "fullchain.pem", "key.pem")
    }
    unknown = directory_plugin(tmp_path, context, owner="no-such-user-lemur")
    with pytest.raises(PluginConfigurationError) as caught:
        unknown.deploy(bundles[1])
    assert caught.value.field == "options.owner"


def test_a_symlink_out_of_the_base_directory_is_refused_and_nothing_is_written(
    tmp_path: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    base, outside = tmp_path / "base", tmp_path / "outside"
    base.mkdir()
    outside.mkdir()
    (outside / "cert.pem").write_text("not yours\n")
    (base / "cert.pem").symlink_to(outside / "cert.pem")
    (base / "private").symlink_to(outside)
    plugin = directory_plugin(base, context)
    with pytest.raises(PluginConfigurationError) as caught:
        plugin.deploy(bundles[0])
    assert caught.value.field == "options.certificate_file"
    assert "outside the base directory" in caught.value.message
    nested = directory_plugin(base, context, certificate_file=None, key_file="private/key.pem")
    with pytest.raises(PluginConfigurationError) as caught:
        nested.deploy(bundles[0])
    assert caught.value.field == "options.key_file"
    assert files_in(base) == ["cert.pem", "private"]
    assert files_in(outside) == ["cert.pem"]
    assert (outside / "cert.pem").read_text() == "not yours\n"


def test_a_symlink_inside_the_base_directory_is_followed(
    tmp_path: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "cert1.pem").write_text("old\n")
    (tmp_path / "cert.pem").symlink_to("archive/cert1.pem")
    plugin = directory_plugin(tmp_path, context)
    plugin.deploy(bundles[0])
    assert (tmp_path / "cert.pem").is_symlink()
    assert (tmp_path / "archive" / "cert1.pem").read_bytes() == pem(bundles[0].certificate)
    assert (tmp_path / "archive" / "cert1.pem.previous").read_text() == "old\n"


def test_a_bundle_without_a_key_is_refused_when_a_key_file_is_configured(
    tmp_path: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    keyless = Bundle(certificate=bundles[0].certificate, chain=bundles[0].chain)
    with pytest.raises(PluginRejected):
        directory_plugin(tmp_path, context).deploy(keyless)
    assert files_in(tmp_path) == []
    directory_plugin(tmp_path, context, key_file=None).deploy(keyless)
    assert files_in(tmp_path) == ["cert.pem", "chain.pem", "fullchain.pem"]


def test_a_missing_directory_is_a_configuration_error(
    tmp_path: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    plugin = directory_plugin(tmp_path / "missing", context)
    for call in (lambda: plugin.deploy(bundles[0]), plugin.connect):
        with pytest.raises(PluginConfigurationError) as caught:
            call()
        assert caught.value.field == "options.directory"
    plugin.remove(DeploymentRef(str(tmp_path / "missing")))  # already gone
    assert not plugin.verify(DeploymentRef(str(tmp_path / "missing")), bundles[0])


def test_check_connection_leaves_nothing_behind(tmp_path: Path, context: PluginContext) -> None:
    summary = directory_plugin(tmp_path, context).connect().summary
    assert str(tmp_path) in summary
    assert "fullchain.pem" in summary
    assert files_in(tmp_path) == []


@pytest.fixture
def unwritable() -> Iterator[Path]:
    """A directory only root may write to, readable by ``nobody`` (outside pytest's 0700
    temporary tree)."""
    path = Path(tempfile.mkdtemp(prefix="lemur-unwritable-"))
    path.chmod(0o755)
    yield path
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def test_permission_denied_is_a_plain_error_and_nothing_changes(
    unwritable: Path, bundles: tuple[Bundle, Bundle]
) -> None:
    """Lemur running as an unprivileged user (``nobody``) cannot write a root-owned
    directory: run as root, the test would be allowed everything."""
    (unwritable / "cert.pem").write_text("old\n")
    (unwritable / "cert.pem").chmod(0o644)
    certificate = unwritable / "leaf.pem"
    certificate.write_bytes(pem(bundles[0].certificate))
    certificate.chmod(0o644)
    code = """
import json, logging, sys
from cryptography import x509
from lemur.builtin.files import DirectoryDestination
from lemur.clock import SystemClock
from lemur.plugins.errors import PluginError, PluginTransientError
from lemur.plugins.values import Bundle, PluginContext
cert = x509.load_pem_x509_certificate(open(sys.argv[2], "rb").read())
options = DirectoryDestination.Options(directory=sys.argv[1], key_file=None)
plugin = DirectoryDestination(options, PluginContext(SystemClock(), logging.getLogger("t")))
try:
    plugin.deploy(Bundle(certificate=cert))
    print(json.dumps({"deployed": True}))
except PluginError as exc:
    print(json.dumps({"code": exc.code, "message": exc.message,
                      "transient": isinstance(exc, PluginTransientError)}))
"""
    result = subprocess.run(
        [
            "setpriv",
            "--reuid=nobody",
            "--regid=nogroup",
            "--clear-groups",
            sys.executable,
            "-c",
            code,
            str(unwritable),
            str(certificate),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    outcome = json.loads(result.stdout)
    assert outcome == {
        "code": "permission_denied",
        "message": f"permission denied writing in {unwritable}",
        "transient": False,
    }
    assert (unwritable / "cert.pem").read_text() == "old\n"
    assert files_in(unwritable) == ["cert.pem", "leaf.pem"]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a file system that really fills up."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def fill(directory: Path) -> None:
    """Write ``directory``'s file system full."""
    stopped_by = None
    with (directory / "filler").open("wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as exc:
            stopped_by = exc.errno
    assert stopped_by == errno.ENOSPC


def test_a_full_disk_fails_the_deployment_and_leaves_the_old_files_whole(
    small_tmpfs: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    first, second = bundles
    plugin = directory_plugin(small_tmpfs, context, reload_command=["false"])
    with pytest.raises(PluginError, match="exited with status 1"):
        plugin.deploy(first)
    fill(small_tmpfs)
    with pytest.raises(PluginError) as caught:
        plugin.deploy(second)
    assert not isinstance(caught.value, PluginTransientError)
    assert caught.value.code == "no_space_left"
    assert "nothing was replaced" in caught.value.message
    assert holds(small_tmpfs, first)
    assert files_in(small_tmpfs) == sorted([*DEFAULT_FILES, "filler"])  # no temporaries


def test_a_failing_reload_reports_status_and_stderr_and_the_new_files_stay(
    tmp_path: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    script = "echo starting >&2; " + "echo line >&2; " * 10
    script += "echo 'nginx: [emerg] cannot load certificate' >&2; exit 3"
    plugin = directory_plugin(tmp_path, context, reload_command=["sh", "-c", script])
    with pytest.raises(PluginError) as caught:
        plugin.deploy(bundles[0])
    assert not isinstance(caught.value, PluginTransientError)
    assert caught.value.code == "reload_failed"
    assert caught.value.message.startswith("reload command exited with status 3: ")
    assert caught.value.message.endswith("nginx: [emerg] cannot load certificate")
    assert "starting" not in caught.value.message  # only the last lines
    assert holds(tmp_path, bundles[0])


def test_a_hanging_reload_is_stopped_at_the_timeout_with_its_children(
    tmp_path: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    late = tmp_path / "late"
    target = tmp_path / "certs"
    target.mkdir()
    command = ["sh", "-c", f"(sleep 0.7; echo late > {late}) & sleep 30"]
    plugin = directory_plugin(target, context, reload_command=command, reload_timeout=0.4)
    started = time.monotonic()
    with pytest.raises(PluginTransientError) as caught:
        plugin.deploy(bundles[0])
    assert time.monotonic() - started < 2
    assert caught.value.message.startswith("reload command did not finish in 0.4 s")
    assert holds(target, bundles[0])
    time.sleep(0.6)
    assert not late.exists()  # the whole process group was killed


def test_readers_see_the_old_file_or_the_new_one_never_a_mix(
    tmp_path: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    first, second = bundles
    plugin = directory_plugin(tmp_path, context)
    ref = plugin.deploy(first)
    whole = {pem(b.certificate) + b"".join(pem(c) for c in b.chain) for b in (first, second)}
    seen: list[bytes] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            seen.append((tmp_path / "fullchain.pem").read_bytes())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(12):
            ref = plugin.deploy(second if i % 2 == 0 else first, previous=ref)
    finally:
        done.set()
        reader.join()
    assert len(seen) > 12
    assert set(seen) <= whole
    assert os.listdir(tmp_path)
    assert not [n for n in os.listdir(tmp_path) if ".lemur-" in n]


def test_a_reference_to_another_directory_is_refused(
    tmp_path: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    """A destination whose directory was changed does not touch the old one's files."""
    plugin = directory_plugin(tmp_path, context)
    ref = plugin.deploy(bundles[0])
    assert plugin.verify(ref, bundles[0])
    elsewhere = DeploymentRef(str(tmp_path / "elsewhere"))
    for call in (lambda: plugin.verify(elsewhere, bundles[0]), lambda: plugin.remove(elsewhere)):
        with pytest.raises(PluginRejected):
            call()
    assert holds(tmp_path, bundles[0])


def test_changed_modes_apply_to_the_same_bundle_without_a_reload(
    tmp_path: Path, bundles: tuple[Bundle, Bundle], context: PluginContext
) -> None:
    marker = tmp_path / "reloads"
    target = tmp_path / "certs"
    target.mkdir()
    reload = ["sh", "-c", f"echo reloaded >> {marker}"]
    ref = directory_plugin(target, context, reload_command=reload).deploy(bundles[0])
    inode = (target / "key.pem").stat().st_ino
    stricter = directory_plugin(target, context, reload_command=reload, key_mode="0640", group=USER)
    assert stricter.deploy(bundles[0], previous=ref) == ref
    key = (target / "key.pem").stat()
    assert (stat.S_IMODE(key.st_mode), key.st_ino) == (0o640, inode)
    assert key.st_gid == pwd.getpwnam(USER).pw_gid
    assert marker.read_text() == "reloaded\n"
