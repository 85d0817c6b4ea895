"""Issuance throughput: POST /api/v1/certificates with server-side keys, under wrk.

For each backend (PostgreSQL, SQLite) a fresh production-like server is started (see
harness.py). For each key type (ec-p256, rsa-2048) and each number of concurrent clients
(wrk connections, closed loop: each client sends its next request when the previous one
has been answered), wrk runs for ``--duration`` seconds with a unique common name per
request. Baselines measured in the same run, on the same data directory, on one core:

- ``crypto``: key generation + certificate building + signing with lemur.crypto, which is
  the irreducible work of one issuance;
- ``service``: CertificateService.issue in-process (adds validation, the database
  transaction, the encrypted private key, the audit event), no HTTP.

Run: ``python -m bench.issuance --backends sqlite --duration 3 --concurrency 1,4,16``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.harness import BACKENDS, Server, authority_id, pg_available, running_server

LUA = Path(__file__).with_name("issue.lua")
KEY_TYPES = ("ec-p256", "rsa-2048")
TARGET_RATE = {"ec-p256": 500.0}  # certificates/s at 16 clients, both backends
TARGET_CLIENTS = 16
ISSUING_CA = "local-issuing-ca"


@dataclass
class LoadResult:
    backend: str
    key_type: str
    clients: int
    requests: int
    seconds: float
    rate: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    non2xx: int
    socket_errors: int
    first_error: str
    crypto_baseline: float
    service_baseline: float
    statements_per_issue: float

    @property
    def ratio(self) -> float:
        return self.rate / self.crypto_baseline if self.crypto_baseline else 0.0

    @property
    def target(self) -> float | None:
        if self.backend == "prototype" or self.clients != TARGET_CLIENTS:
            return None
        return TARGET_RATE.get(self.key_type)

    @property
    def failed(self) -> bool:
        return self.non2xx > 0 or self.socket_errors > 0 or self.requests == 0


def _container(server: Server) -> Any:
    from lemur.container import build_container

    return build_container(server.settings(), init=False)


def _signing_authority(container: Any) -> Any:
    from lemur.authz import cli_principal
    from lemur.services import Services

    with Services(container, cli_principal()) as services:
        gateway, read = services.authority_gateway, services.uow.read
        found = gateway.get(read, services.authorities().find(ISSUING_CA).id)
        return gateway.signer(read, found)


def crypto_baseline(server: Server, key_type: str, seconds: float) -> float:
    """Certificates/s for key generation + build + sign with lemur.crypto, one core."""
    from lemur.crypto.issuance import build_leaf_certificate
    from lemur.crypto.keys import KeySpec, generate_private_key
    from lemur.crypto.names import SubjectAltNames
    from lemur.crypto.profiles import Profile

    container = _container(server)
    try:
        signer = _signing_authority(container)
    finally:
        container.close()
    spec = KeySpec(key_type)
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or count < 5:
        key = generate_private_key(spec)
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        build_leaf_certificate(
            issuer_cert=signer.certificate,
            issuer_key=signer.private_key,
            public_key=key.public_key(),
            subject_cn=f"base-{count}.bench.example.com",
            sans=SubjectAltNames.create(dns_names=[f"base-{count}.bench.example.com"]),
            not_before=now,
            not_after=now + dt.timedelta(days=90),
            profile=Profile.SERVER,
            ocsp_url=signer.ocsp_url,
            ca_issuers_url=signer.ca_issuers_url,
            crl_url=signer.crl_url,
        )
        count += 1
    return count / elapsed


def service_baseline(server: Server, key_type: str, seconds: float) -> tuple[float, float]:
    """Certificates/s for IssuanceService.issue in-process (one core, no HTTP), and the
    SQL statements each issuance runs."""
    from sqlalchemy import event

    from lemur.authz import cli_principal
    from lemur.certificates.requests import NewCertificate
    from lemur.crypto.keys import KeySpec
    from lemur.services import Services

    container = _container(server)
    statements = {"n": 0}

    def on_execute(*_args: Any) -> None:
        statements["n"] += 1

    engines = {container.db.read_engine, container.db.write_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", on_execute)
    try:
        ca_id = authority_id(server, ISSUING_CA)
        count, started = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds or count < 5:
            with Services(container, cli_principal()) as services:
                services.issuance().issue(
                    NewCertificate(
                        team_id=server.team_id or 1,
                        authority_id=ca_id,
                        common_name=f"svc-{uuid.uuid4().hex[:12]}.bench.example.com",
                        key_spec=KeySpec(key_type),
                    )
                )
            count += 1
        return count / elapsed, statements["n"] / count
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", on_execute)
        container.close()


def run_wrk(
    server: Server, key_type: str, clients: int, seconds: float, ca_id: int
) -> dict[str, Any]:
    return _wrk(
        server.base_url, str(server.token), str(server.team_id), ca_id, key_type, clients, seconds
    )


def _wrk(
    base_url: str,
    token: str,
    team_id: str,
    ca_id: int,
    key_type: str,
    clients: int,
    seconds: float,
) -> dict[str, Any]:
    run_id = uuid.uuid4().hex[:8]
    cmd = [
        "wrk",
        "-t1",
        f"-c{clients}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "60s",
        "-s",
        str(LUA),
        base_url,
        "--",
        token,
        team_id,
        str(ca_id),
        key_type,
        run_id,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=seconds + 120)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line.removeprefix("BENCH_JSON ")))
    raise RuntimeError(f"wrk printed no result: {out.stdout}\n{out.stderr}")


def _load_result(
    raw: dict[str, Any],
    backend: str,
    key_type: str,
    clients: int,
    crypto: float,
    service: float,
    statements: float,
) -> LoadResult:
    """One row from wrk's figures (issue.lua's done()) and the run's baselines."""
    seconds = raw["duration_us"] / 1e6
    return LoadResult(
        backend=backend,
        key_type=key_type,
        clients=clients,
        requests=raw["requests"],
        seconds=seconds,
        rate=(raw["requests"] - raw["non2xx"]) / seconds if seconds else 0.0,
        p50_ms=raw["p50_ms"],
        p95_ms=raw["p95_ms"],
        p99_ms=raw["p99_ms"],
        non2xx=raw["non2xx"],
        socket_errors=raw["socket_errors"] + raw["timeouts"],
        first_error=raw["first_error"],
        crypto_baseline=crypto,
        service_baseline=service,
        statements_per_issue=statements,
    )


def warm_up(server: Server, key_type: str, ca_id: int, n: int = 8) -> None:
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as client:
        for _ in range(n):
            response = client.post(
                "/api/v1/certificates",
                json={
                    "team_id": server.team_id,
                    "authority_id": ca_id,
                    "common_name": f"warm-{uuid.uuid4().hex[:12]}.bench.example.com",
                    "key_type": key_type,
                },
            )
            if response.status_code != 201:
                raise RuntimeError(
                    f"warm-up issuance failed: {response.status_code} {response.text}"
                )


def run(
    backends: list[str],
    key_types: list[str],
    concurrency: list[int],
    duration: float,
    baseline_seconds: float,
    log: Any = print,
) -> list[LoadResult]:
    results: list[LoadResult] = []
    for backend in backends:
        if backend == "postgresql" and not pg_available():
            log("!! PostgreSQL is not reachable (BENCH_PG_URL); skipping its issuance runs")
            continue
        with running_server(backend) as server:
            ca_id = authority_id(server, ISSUING_CA)
            log(f"[issuance] {backend}: server ready in {server.startup_seconds:.2f} s")
            for key_type in key_types:
                base = crypto_baseline(server, key_type, baseline_seconds)
                svc, statements = service_baseline(server, key_type, baseline_seconds)
                log(
                    f"[issuance] {backend} {key_type}: baselines crypto {base:.0f}/s, "
                    f"service {svc:.0f}/s (one core, {statements:.0f} SQL statements per issuance)"
                )
                warm_up(server, key_type, ca_id)
                for clients in concurrency:
                    raw = run_wrk(server, key_type, clients, duration, ca_id)
                    result = _load_result(raw, backend, key_type, clients, base, svc, statements)
                    results.append(result)
                    log(f"[issuance] {format_row(result)}")
                    if result.failed:
                        log(
                            f"!! FAILED: {result.non2xx} non-2xx responses, "
                            f"{result.socket_errors} socket errors/timeouts; first: {result.first_error}"
                        )
    if "ec-p256" in key_types and results:
        results += prototype_runs(concurrency, duration, results, log)
    return results


def prototype_runs(
    concurrency: list[int], duration: float, measured: list[LoadResult], log: Any
) -> list[LoadResult]:
    """The same wrk runs (EC P-256) against bench/prototype.py: FastAPI + cryptography +
    SQLite doing only key generation, signing and one INSERT, under the same uvicorn
    settings. Lemur's figure over this one is what its own layers cost."""
    from bench.prototype import running_prototype

    crypto = next(r.crypto_baseline for r in measured if r.key_type == "ec-p256")
    results = []
    with running_prototype() as base_url:
        log("[issuance] prototype (FastAPI + cryptography + SQLite, nothing else): ready")
        for clients in concurrency:
            raw = _wrk(base_url, "-", "0", 0, "ec-p256", clients, duration)
            result = _load_result(raw, "prototype", "ec-p256", clients, crypto, 0.0, 1.0)
            results.append(result)
            log(f"[issuance] {format_row(result)}")
    return results


HEADER = (
    f"{'backend':<10} {'key':<8} {'clients':>7} {'certs/s':>8} {'target':>8} {'p50 ms':>8} "
    f"{'p95 ms':>8} {'p99 ms':>8} {'crypto/s':>8} {'ratio':>6} {'service/s':>9} {'SQL':>4} "
    f"{'proto':>6} {'non2xx':>6}"
)


def format_row(r: LoadResult, prototype_rate: float | None = None) -> str:
    target = f">={r.target:.0f}" if r.target else "-"
    mark = " MISSED" if r.target and r.rate < r.target else ""
    fail = " FAILED" if r.failed else ""
    service = f"{r.service_baseline:.0f}" if r.service_baseline else "-"
    proto = f"{r.rate / prototype_rate:.2f}" if prototype_rate else "-"
    return (
        f"{r.backend:<10} {r.key_type:<8} {r.clients:>7} {r.rate:>8.1f} {target:>8} "
        f"{r.p50_ms:>8.1f} {r.p95_ms:>8.1f} {r.p99_ms:>8.1f} {r.crypto_baseline:>8.0f} "
        f"{r.ratio:>6.2f} {service:>9} {r.statements_per_issue:>4.0f} {proto:>6} "
        f"{r.non2xx + r.socket_errors:>6}{mark}{fail}"
    )


def table(results: list[LoadResult]) -> str:
    """The rows; ``proto`` is certs/s over the prototype's at the same number of clients."""
    prototype = {r.clients: r.rate for r in results if r.backend == "prototype"}
    return "\n".join(
        [
            HEADER,
            *(
                format_row(r, prototype.get(r.clients) if r.key_type == "ec-p256" else None)
                for r in results
            ),
        ]
    )


def to_json(results: list[LoadResult]) -> list[dict[str, Any]]:
    return [asdict(r) | {"ratio": r.ratio, "target": r.target} for r in results]


def add_arguments(parser: argparse.ArgumentParser, *, backends: bool = True) -> None:
    if backends:
        parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--key-types", default=",".join(KEY_TYPES))
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per wrk run")
    parser.add_argument("--baseline-seconds", type=float, default=5.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="3 s runs, 2 s baselines")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.baseline_seconds = 3.0, 2.0
    results = run(
        args.backends.split(","),
        args.key_types.split(","),
        [int(c) for c in args.concurrency.split(",")],
        args.duration,
        args.baseline_seconds,
    )
    print(table(results))
    return 1 if any(r.failed for r in results) or not results else 0


if __name__ == "__main__":
    raise SystemExit(main())
