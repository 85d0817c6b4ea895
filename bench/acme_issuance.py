"""ACME issuance through the ``acme`` issuer plugin, next to a bare acme-library client doing
the same orders against the same Pebble (+ BIND9) in the same run.

- **plugin**: what Lemur does: ``issue()`` (place the order, publish the answers, answer the
  challenges) and then ``poll()`` every ``retry_after`` (as Lemur's poller would; or
  ``--poll-interval``) until the certificate comes back. The plugin is stateless: every
  call opens its own client (directory, nonce) and reads the order back from its URL.
- **bare**: one long-lived ``acme.client.ClientV2`` per worker thread (its nonces and
  connections kept), ``new_order`` + answers + ``poll_and_finalize`` (the library's own
  1 s polling; with ``--poll-interval``, the same calls polled at that interval), the
  answers served from the same responder (or BIND).

Each order is for a fresh name, measured from the request to the certificate. Orders per
second = orders / wall time of the batch, at 1 and 16 concurrent orders (threads).
Pebble runs with no validation sleep (``PEBBLE_VA_NOSLEEP=1``), so what is left is the
protocol's round trips and the polling interval.

Run: ``python -m bench.acme_issuance --orders 4,16 --concurrency 1,16``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from acme import challenges, messages
from acme import client as acme_client
from cryptography.hazmat.primitives import serialization
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from bench.acme_peers import (
    BindServer,
    PebblePeer,
    base_options,
    dns_options,
    make_context,
    make_request,
)
from lemur.builtin.acme import ACMEIssuer, ACMEOptions
from lemur.plugins.values import IssuanceRequest, Issued


@dataclass(frozen=True)
class Result:
    client: str
    concurrency: int
    orders: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _requests(count: int, challenge: str) -> list[IssuanceRequest]:
    out = []
    for _ in range(count):
        name = f"bench-{uuid.uuid4().hex[:12]}.example.test"
        names = [name, f"*.{name}"] if challenge == "dns-01" else [name]
        out.append(make_request(names, common_name=name))
    return out


def _run(
    name: str, concurrency: int, requests: list[IssuanceRequest], one: Callable[..., object]
) -> Result:
    latencies: list[float] = []
    lock = threading.Lock()

    def timed(request: IssuanceRequest) -> None:
        start = time.perf_counter()
        one(request)
        with lock:
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(timed, requests))
    return Result(name, concurrency, len(requests), time.perf_counter() - start, latencies)


def plugin_issuance(issuer: ACMEIssuer, poll_interval: float | None) -> Callable[..., object]:
    def one(request: IssuanceRequest) -> Issued:
        result = issuer.issue(request)
        while not isinstance(result, Issued):
            wait = result.retry_after.total_seconds() if poll_interval is None else poll_interval
            time.sleep(wait)
            result = issuer.poll(result.external_id, request)
        return result

    return one


def _tight_finalize(
    acme: acme_client.ClientV2, order: messages.OrderResource, interval: float
) -> str:
    """The library's calls with our own polling interval: read the order until ready,
    finalize, read it until valid, download."""
    nonce_url = acme.directory["newNonce"]
    assert order.uri is not None
    for _ in range(int(60 / interval)):
        body = messages.Order.from_json(
            acme.net.post(order.uri, None, new_nonce_url=nonce_url).json()
        )
        if body.status == messages.STATUS_READY:
            order = acme.begin_finalization(order.update(body=body))
            body = order.body
        if body.status == messages.STATUS_VALID and body.certificate:
            return acme.net.post(body.certificate, None, new_nonce_url=nonce_url).text
        if body.status == messages.STATUS_INVALID:
            raise RuntimeError(f"order invalid: {body.error}")
        time.sleep(interval)
    raise RuntimeError("order not valid after 60 s")


def bare_issuance(
    peer: PebblePeer,
    account_key: str,
    account_url: str,
    challenge: str,
    poll_interval: float | None,
) -> Callable[..., object]:
    local = threading.local()
    jwk = JWKEC(key=serialization.load_pem_private_key(account_key.encode(), None))

    def client() -> acme_client.ClientV2:
        if not hasattr(local, "client"):
            net = acme_client.ClientNetwork(jwk, alg=ES256, verify_ssl=peer.ca_file)
            net.account = messages.RegistrationResource(
                uri=account_url, body=messages.Registration()
            )
            directory = acme_client.ClientV2.get_directory(peer.directory_url, net)
            local.client = acme_client.ClientV2(directory, net)
        acme: acme_client.ClientV2 = local.client
        return acme

    def one(request: IssuanceRequest) -> str:
        acme = client()
        assert request.csr is not None
        order = acme.new_order(request.csr.public_bytes(serialization.Encoding.PEM))
        cleanup: list[Callable[[], None]] = []
        wanted = challenges.DNS01 if challenge == "dns-01" else challenges.HTTP01
        for authz in order.authorizations:
            challb = next(c for c in authz.body.challenges if isinstance(c.chall, wanted))
            response, validation = challb.response_and_validation(jwk)
            if challenge == "dns-01":
                record = f"_acme-challenge.{authz.body.identifier.value}"
                peer.bind.add_txt(record, validation)
                cleanup.append(lambda r=record, v=validation: peer.bind.delete_txt(r, v))
            else:
                token = challb.chall.encode("token")
                peer.responder.publish(token, validation)
                cleanup.append(lambda t=token: peer.responder.withdraw(t))
            acme.answer_challenge(challb, response)
        if poll_interval is None:
            deadline = dt.datetime.now() + dt.timedelta(seconds=60)
            fullchain = str(acme.poll_and_finalize(order, deadline).fullchain_pem)
        else:
            fullchain = _tight_finalize(acme, order, poll_interval)
        for step in cleanup:
            step()
        return fullchain

    return one


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", default="4,16", help="orders per batch, per concurrency")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--challenge", choices=("http-01", "dns-01"), default="http-01")
    parser.add_argument("--poll-interval", type=float, default=None)
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    counts = [int(c) for c in args.orders.split(",")]
    counts += [counts[-1]] * (len(levels) - len(counts))

    with tempfile.TemporaryDirectory(prefix="bench-acme-") as tmp:
        bind = BindServer(Path(tmp) / "bind")
        peer = PebblePeer(Path(tmp) / "pebble", bind)
        try:
            options = base_options(peer)
            connected = ACMEIssuer(ACMEOptions.model_validate(options), make_context(None))
            stored = connected.connect().options
            assert isinstance(stored, ACMEOptions)
            assert stored.account_key is not None
            assert stored.account_url is not None
            account = {
                "account_key": stored.account_key.get_secret_value(),
                "account_url": stored.account_url,
            }
            chosen = (
                dns_options(peer, **account)
                if args.challenge == "dns-01"
                else base_options(peer, **account)
            )
            issuer = ACMEIssuer(ACMEOptions.model_validate(chosen), make_context(peer.responder))
            plugin = plugin_issuance(issuer, args.poll_interval)
            bare = bare_issuance(
                peer,
                account["account_key"],
                account["account_url"],
                args.challenge,
                args.poll_interval,
            )
            plugin(_requests(1, args.challenge)[0])  # warm-up (imports, first TLS handshake)
            results = []
            for level, count in zip(levels, counts, strict=False):
                results.append(_run("plugin", level, _requests(count, args.challenge), plugin))
                results.append(_run("bare acme", level, _requests(count, args.challenge), bare))
        finally:
            peer.stop()
            bind.stop()

    poll = (
        "plugin every retry_after, bare acme: poll_and_finalize"
        if args.poll_interval is None
        else f"both every {args.poll_interval} s"
    )
    print(f"\nACME issuance on Pebble 2.4 ({args.challenge}; polling: {poll})")
    print(f"{'client':<10} {'conc':>4} {'orders':>6} {'orders/s':>9} {'p50 s':>7} {'p95 s':>7}")
    for r in results:
        print(
            f"{r.client:<10} {r.concurrency:>4} {r.orders:>6} {r.rate:>9.2f} "
            f"{statistics.median(r.latencies):>7.2f} {r.percentile(0.95):>7.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
