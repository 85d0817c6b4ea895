"""Issuance through the ``cfssl`` issuer plugin next to direct calls to cfssl, in one run.

A real ``cfssl serve`` (Debian's golang-cfssl, started as the tests start it:
tests/peers/cfssl.py) signs the same pre-generated CSRs three ways, each with ``--clients``
(default 16) threads for ``--requests`` (default 240) requests, in ``--rounds`` (default 4)
rounds of rotated order (medians printed):

- ``direct /sign``: one httpx POST per certificate with the body the plugin sends
  (what ``curl -d`` would do): the baseline;
- ``direct /sign + /info``: the same two calls the plugin makes, without its checks;
- ``plugin /sign``: ``CFSSLIssuer.issue`` through Lemur's guarded client: the /sign call,
  the /info call for the chain, and the checks of key, names and usages;
- ``plugin /authsign``: the same with the auth profile (HMAC-signed requests).

The instance benchmarked runs without a certificate database (``-db-config``), so SQLite
writes inside cfssl do not blur the comparison. Prints throughput and p50/p95 latency.

    .venv/bin/python -m bench.cfssl_issuance
    .venv/bin/python -m bench.cfssl_issuance --clients 16 --requests 160
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.serialization import Encoding
from tests.issuers.cfssl.conftest import make_request
from tests.peers.cfssl import start_cfssl

from lemur.builtin.cfssl import CFSSLIssuer, CFSSLOptions
from lemur.clock import SystemClock
from lemur.outbound import OutboundPolicy, plugin_context
from lemur.plugins.values import IssuanceRequest, Issued


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def measure(
    name: str,
    work: Callable[[IssuanceRequest], None],
    requests: Sequence[IssuanceRequest],
    clients: int,
) -> tuple[str, float, float, float]:
    """(name, certificates per second, p50 ms, p95 ms) of ``work`` over ``requests``."""

    def timed(request: IssuanceRequest) -> float:
        start = time.perf_counter()
        work(request)
        return time.perf_counter() - start

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(work, requests[:clients]))  # warm up connections
        measured = requests[clients:]
        start = time.perf_counter()
        latencies = list(pool.map(timed, measured))
        elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100)
    return name, len(measured) / elapsed, cuts[49] * 1000, cuts[94] * 1000


def direct_sign(
    client: httpx.Client, base_url: str, profile: str, *, info: bool = False
) -> Callable[[IssuanceRequest], None]:
    def work(request: IssuanceRequest) -> None:
        assert request.csr is not None
        body = {
            "certificate_request": request.csr.public_bytes(Encoding.PEM).decode(),
            "hosts": [*request.sans.dns_names, *(str(ip) for ip in request.sans.ip_addresses)],
            "profile": profile,
        }
        response = client.post(f"{base_url}/api/v1/cfssl/sign", json=body)
        response.raise_for_status()
        assert response.json()["result"]["certificate"]
        if info:
            chain = client.post(f"{base_url}/api/v1/cfssl/info", json={"profile": profile})
            assert chain.json()["result"]["certificate"]

    return work


def through_plugin(issuer: CFSSLIssuer) -> Callable[[IssuanceRequest], None]:
    def work(request: IssuanceRequest) -> None:
        assert isinstance(issuer.issue(request), Issued)

    return work


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)

    log(f"generating {args.requests + args.clients} CSRs (EC P-256, 2 DNS names + 1 IP)")
    requests = [make_request() for _ in range(args.requests + args.clients)]
    peer = start_cfssl(Path(tempfile.mkdtemp(prefix="lemur-bench-cfssl-")))
    rows = []
    try:
        with (
            peer.without_certdb() as url,
            plugin_context(OutboundPolicy(timeout=30), SystemClock(), "bench.cfssl") as context,
            httpx.Client(timeout=30, limits=httpx.Limits(max_connections=args.clients)) as client,
        ):

            def issuer(**options: str) -> CFSSLIssuer:
                return CFSSLIssuer(CFSSLOptions.model_validate({"url": url, **options}), context)

            plans = [
                ("direct /sign (httpx, 1 call)", direct_sign(client, url, peer.server_profile)),
                (
                    "direct /sign + /info (2 calls)",
                    direct_sign(client, url, peer.server_profile, info=True),
                ),
                ("plugin /sign (+ /info, checks)", through_plugin(issuer(profile="server"))),
                (
                    "plugin /authsign (+ /info, checks)",
                    through_plugin(issuer(profile=peer.authed_profile, auth_key=peer.auth_key_hex)),
                ),
            ]
            # Rounds in rotated order: on a shared machine the load drifts, and a fixed order
            # would give one path the quiet minutes.
            results: dict[str, list[tuple[str, float, float, float]]] = {n: [] for n, _ in plans}
            for round_ in range(args.rounds):
                shift = round_ % len(plans)
                for name, work in plans[shift:] + plans[:shift]:
                    log(f"round {round_ + 1}: {name}")
                    results[name].append(measure(name, work, requests, args.clients))
            for name, _ in plans:
                runs = results[name]
                rows.append(
                    (
                        name,
                        statistics.median(r[1] for r in runs),
                        statistics.median(r[2] for r in runs),
                        statistics.median(r[3] for r in runs),
                    )
                )
    finally:
        peer.stop()

    sys.stdout.flush()
    print(
        f"\ncfssl issuance, {args.clients} concurrent clients, {args.requests} certificates "
        f"per path and round, median of {args.rounds} rounds"
    )
    print(f"{'path':38} {'cert/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    for name, rate, p50, p95 in rows:
        print(f"{name:38} {rate:8.1f} {p50:8.1f} {p95:8.1f}")


if __name__ == "__main__":
    main()
