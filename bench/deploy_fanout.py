"""One renewed certificate fanned out to N destinations (directory and SFTP mixed, on
loopback), through Lemur's deployment jobs, next to the same writes done directly.

Setup: a Lemur container on SQLite, a real OpenSSH sshd (the test suite's recipe:
tests/peers/sshd.py), N destinations (half ``directory`` in local temporary directories,
half ``sftp`` to the sshd with key authentication and a pinned host key), one certificate
attached to all of them and deployed. Measured, per concurrency level K:

- ``lemur``: the certificate is renewed (``IssuanceService.renew``: the successor and its N
  deployment jobs are written in one transaction), then K runner threads (what K Celery
  worker slots or K embedded runners would be) run the jobs until every deployment is
  ``deployed``. Time from the renewal call to the last deployment recorded.
- ``direct``: the same four files (certificate, chain, full chain, key) written to the same
  N targets by hand with K threads: atomic local writes (temporary file, fsync, rename) and
  a paramiko SFTP session per target (connect, upload to temporary names, rename), the
  minimum any deployer has to do.

No endpoints are verified (a handshake per target is measured by the tests, not here).

    .venv/bin/python -m bench.deploy_fanout [--destinations 100] [--concurrency 1,4,16]
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select
from tests.peers.sshd import SSHDPeer, start_sshd

from lemur.authz import cli_principal
from lemur.certificates.requests import NewCertificate
from lemur.certificates.store import CertificateStore
from lemur.config import Settings
from lemur.container import Container, build_container
from lemur.deployments.models import Deployment, DeploymentState
from lemur.deployments.runner import bundle_of
from lemur.jobs.engine import JobEngine
from lemur.plugins.values import Bundle
from lemur.services import Services


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def files_of(bundle: Bundle) -> dict[str, bytes]:
    pem = serialization.Encoding.PEM
    cert = bundle.certificate.public_bytes(pem)
    chain = b"".join(c.public_bytes(pem) for c in bundle.chain)
    assert bundle.private_key is not None
    key = bundle.private_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {"cert.pem": cert, "chain.pem": chain, "fullchain.pem": cert + chain, "key.pem": key}


def write_local(directory: Path, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        tmp = directory / f".{name}.tmp"
        with open(tmp, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, directory / name)


def write_sftp(peer: SSHDPeer, directory: Path, files: dict[str, bytes]) -> None:
    key = paramiko.Ed25519Key.from_private_key(io.StringIO(peer.client_private_key))
    client = paramiko.SSHClient()
    kind, blob = peer.host_public_key.split()[:2]
    host_key = paramiko.PKey.from_type_string(kind, base64.b64decode(blob))
    client.get_host_keys().add(f"[{peer.host}]:{peer.port}", kind, host_key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        peer.host, port=peer.port, username=peer.username, pkey=key,
        look_for_keys=False, allow_agent=False, timeout=10,
    )  # fmt: skip
    try:
        sftp = client.open_sftp()
        for name, content in files.items():
            tmp = f"{directory}/.{name}.tmp"
            sftp.putfo(io.BytesIO(content), tmp)
            sftp.posix_rename(tmp, f"{directory}/{name}")
        sftp.close()
    finally:
        client.close()


def timed_pool(k: int, work: list[Callable[[], None]]) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(k) as pool:
        for future in [pool.submit(w) for w in work]:
            future.result()
    return time.perf_counter() - start


def deployed(container: Container, certificate_id: int) -> int:
    with container.db.read() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Deployment)
                .where(
                    Deployment.certificate_id == certificate_id,
                    Deployment.state == DeploymentState.DEPLOYED.value,
                )
            )
            or 0
        )


def run_jobs(container: Container, k: int, certificate_id: int, total: int) -> None:
    """K runner threads, each claiming one job at a time, until all N are deployed."""
    done = threading.Event()

    def runner(index: int) -> None:
        engine = JobEngine(container, container.job_kinds, worker=f"bench-{index}")
        while not done.is_set():
            if engine.run_due(1) == 0:
                if deployed(container, certificate_id) >= total:
                    done.set()
                else:
                    time.sleep(0.01)

    if k == 1:  # in this thread (a profiler sees it)
        runner(0)
        return
    threads = [threading.Thread(target=runner, args=(i,)) for i in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--destinations", type=int, default=100)
    parser.add_argument("--concurrency", default="1,4,16")
    args = parser.parse_args(argv)
    levels = [int(k) for k in args.concurrency.split(",")]
    n = args.destinations
    work = Path(tempfile.mkdtemp(prefix="lemur-fanout-"))
    peer = start_sshd()
    settings = Settings(data_dir=work / "data")
    (work / "data").mkdir(mode=0o700)
    container = build_container(settings, init=True)
    try:
        local_dirs = [work / f"local-{i}" for i in range(n - n // 2)]
        remote_dirs = [peer.remote_directory() for _ in range(n // 2)]
        for d in local_dirs:
            d.mkdir()
        with Services(container, cli_principal()) as services:
            team = services.accounts().create_team("bench")
            ids: list[int] = []
            for i, d in enumerate(local_dirs):
                ids.append(
                    services.destinations()
                    .create(f"local-{i}", "directory", {"directory": str(d)})
                    .id
                )
            for i, d in enumerate(remote_dirs):
                options = {
                    "host": peer.host,
                    "port": peer.port,
                    "username": peer.username,
                    "private_key": peer.client_private_key,
                    "host_key": peer.host_public_key,
                    "directory": str(d),
                }
                ids.append(services.destinations().create(f"sftp-{i}", "sftp", options).id)
            authority = next(
                a for a in services.authorities().list() if a.name == "local-issuing-ca"
            )
            cert = services.issuance().issue(
                NewCertificate(
                    team_id=team.id,
                    authority_id=authority.id,
                    dns_names=("fanout.example.test",),
                    destinations=tuple(ids),
                )
            )
            current = cert.certificate.id  # type: ignore[union-attr]
        log(
            f"{n} destinations ({len(local_dirs)} directory, {len(remote_dirs)} sftp); first deployment"
        )
        run_jobs(container, max(levels), current, n)
        rows: list[tuple[str, int, float]] = []
        for k in levels:
            with Services(container, cli_principal()) as services:
                start = time.perf_counter()
                renewed = services.issuance().renew(current)
                current = renewed.certificate.id  # type: ignore[union-attr]
            run_jobs(container, k, current, n)
            rows.append(("lemur: renew + N deployment jobs", k, time.perf_counter() - start))
            log(f"lemur K={k}: {rows[-1][2]:.2f} s")
            with container.db.read() as session:
                store = CertificateStore(container.keyring)
                files = files_of(bundle_of(store, session, current))
            direct: list[Callable[[], None]] = [
                (lambda d=d, f=files: write_local(d, f)) for d in local_dirs
            ] + [(lambda d=d, f=files: write_sftp(peer, d, f)) for d in remote_dirs]
            rows.append(("direct: same files by hand", k, timed_pool(k, direct)))
            log(f"direct K={k}: {rows[-1][2]:.2f} s")
        print(f"\nFan-out of one renewed certificate to {n} destinations (loopback)")
        print(f"{'variant':36} {'K':>3} {'total s':>8} {'targets/s':>10}")
        for name, k, seconds in rows:
            print(f"{name:36} {k:>3} {seconds:8.2f} {n / seconds:10.1f}")
    finally:
        container.close()
        peer.stop()


if __name__ == "__main__":
    main()
