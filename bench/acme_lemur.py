"""ACME issuance through Lemur (a real ``lemur serve``), next to a bare acme-library client
(and the ``acme`` plugin called directly) doing the same orders in the same run.

- **lemur**: ``POST /api/v1/certificates`` to an ACME authority created through
  ``POST /api/v1/authorities``; the answer is 202 with a pending request, which the
  ``request.poll`` job finishes (run by the embedded job runner of each ``lemur serve``
  worker). HTTP-01 is answered by Lemur itself: Pebble's HTTP-01 port is Lemur's port.
  DNS-01 goes through BIND9 (RFC 2136, TSIG). The time of an order runs from sending the
  POST to the request's ``finished_at`` (the server's clock, the same machine); the client
  learns it by reading ``GET /api/v1/requests/{id}`` every ``--watch`` seconds.
- **plugin**: ``issue()`` then ``poll()`` every ``retry_after`` (1 s), in-process: what
  Lemur would take with a runner that wakes exactly when a poll is due.
- **bare acme**: ``acme.client.ClientV2``, ``new_order`` + answers + ``poll_and_finalize``.

Lemur's requests use one Pebble whose HTTP-01 port is Lemur's; the two in-process clients
use a second, identical Pebble (same BIND) whose HTTP-01 port is a responder in this
process. For Lemur's rows the poll jobs are read back from ``GET /api/v1/jobs``: polls per
order, how long a due poll waited for a runner, how long a poll ran.

Run: ``python -m bench.acme_lemur --orders 3,16 --concurrency 1,16 --challenges dns-01``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.acme_issuance import Result, _requests, _run, bare_issuance, plugin_issuance
from bench.acme_peers import BindServer, PebblePeer, base_options, dns_options, make_context
from bench.harness import Server
from lemur.builtin.acme import ACMEIssuer, ACMEOptions
from lemur.builtin.acme.plugin import RETRY_AFTER
from lemur.plugins.values import IssuanceRequest, Issued


@dataclass(frozen=True)
class LemurResult(Result):
    post_seconds: list[float] = field(default_factory=list)
    polls: list[int] = field(default_factory=list)
    runner_waits: list[float] = field(default_factory=list)
    poll_runs: list[float] = field(default_factory=list)
    runners: int = 0


def _when(value: str) -> dt.datetime:
    at = dt.datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _names(challenge: str) -> list[str]:
    name = f"bench-{uuid.uuid4().hex[:12]}.example.test"
    return [name, f"*.{name}"] if challenge == "dns-01" else [name]


def create_authority(server: Server, name: str, options: dict[str, Any]) -> int:
    """An ACME authority through the API (Lemur registers the account at Pebble)."""
    r = httpx.post(
        f"{server.base_url}/api/v1/authorities",
        json={"name": name, "plugin": "acme", "options": options},
        headers=server.headers,
        timeout=60,
    )
    if r.status_code != 201:
        raise RuntimeError(f"creating the ACME authority failed: {r.status_code} {r.text}")
    return int(r.json()["id"])


def lemur_order(
    server: Server, authority: int, challenge: str, watch: float
) -> tuple[dt.datetime, float, int]:
    """One certificate through the API: (when it was sent, seconds to the 202, request id);
    returns once the request is issued."""
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as client:
        names = _names(challenge)
        sent = dt.datetime.now(dt.UTC)
        start = time.perf_counter()
        r = client.post(
            "/api/v1/certificates",
            json={
                "team_id": server.team_id,
                "authority_id": authority,
                "common_name": names[0],
                "subject_alternative_names": {"dns_names": names},
            },
        )
        post = time.perf_counter() - start
        if r.status_code != 202:
            raise RuntimeError(f"expected 202 for {names[0]}: {r.status_code} {r.text}")
        request_id = int(r.json()["id"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(watch)
            state = client.get(f"/api/v1/requests/{request_id}").json()
            if state["state"] == "issued":
                return sent, post, request_id
            if state["state"] != "pending":
                raise RuntimeError(f"request {request_id} {state['state']}: {state['last_error']}")
    raise RuntimeError(f"request {request_id} still pending after 60 s")


def run_lemur(
    server: Server, authority: int, challenge: str, concurrency: int, count: int, watch: float
) -> LemurResult:
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        done = list(
            pool.map(lambda _: lemur_order(server, authority, challenge, watch), range(count))
        )
    ids = {request_id for _, _, request_id in done}
    with httpx.Client(base_url=server.base_url, headers=server.headers, timeout=60) as client:
        finished = {
            i: _when(client.get(f"/api/v1/requests/{i}").json()["finished_at"]) for i in ids
        }
        jobs = [
            j
            for j in client.get(
                "/api/v1/jobs", params={"kind": "request.poll", "limit": 500}
            ).json()["items"]
            if j["args"].get("request_id") in ids and j["started_at"]
        ]
    latencies = [(finished[i] - sent).total_seconds() for sent, _, i in done]
    first = min(sent for sent, _, _ in done)
    wall = (max(finished.values()) - first).total_seconds()
    # A finished job's run_after is rewritten to its finish; a poll was due retry_after
    # after it was enqueued (its created_at), and started_at is when a runner claimed it
    # (with the others of its batch, which then run one after another).
    last_poll = {
        i: max((j for j in jobs if j["args"]["request_id"] == i), key=lambda j: j["id"])
        for i in ids
    }
    return LemurResult(
        client="lemur",
        concurrency=concurrency,
        orders=count,
        seconds=wall,
        latencies=latencies,
        post_seconds=[post for _, post, _ in done],
        polls=[sum(1 for j in jobs if j["args"]["request_id"] == i) for i in ids],
        runner_waits=[
            (_when(j["started_at"]) - _when(j["created_at"]) - RETRY_AFTER).total_seconds()
            for j in jobs
        ],
        poll_runs=[
            (finished[i] - _when(j["started_at"])).total_seconds() for i, j in last_poll.items()
        ],
        runners=len({j["worker"] for j in jobs}),
    )


def prepare(server: Server) -> None:
    """``lemur init``, a team and an admin write token, in this process (what the CLI
    commands of bench.harness do, without three more interpreter start-ups)."""
    import dataclasses

    from lemur.accounts.models import TokenScope
    from lemur.accounts.service import load_principal
    from lemur.authz import cli_principal
    from lemur.container import build_container
    from lemur.services import Services

    settings = server.settings().model_copy(update={"create_local_ca": False})
    container = build_container(settings, init=True)
    try:
        with Services(container, cli_principal()) as services:
            server.team_id = services.accounts().create_team("bench").id
            admin = services.accounts().find_user("admin")
            principal = dataclasses.replace(
                load_principal(services.uow.read, admin, via="cli"), acting_as="cli"
            )
            _, server.token = services.tokens().create(
                principal, name="bench", scope=TokenScope.WRITE, expires_in_days=1
            )
    finally:
        container.close()


def run_plugin(issuer: ACMEIssuer, challenge: str, concurrency: int, count: int) -> LemurResult:
    """The plugin in-process, as Lemur would call it with a runner that wakes exactly when
    a poll is due: issue(), then poll() every retry_after. Its 202 s is issue(), its poll s
    the last poll()."""
    issues: list[float] = []
    polls: list[int] = []
    lasts: list[float] = []
    lock = threading.Lock()

    def one(request: IssuanceRequest) -> None:
        start = time.perf_counter()
        result = issuer.issue(request)
        issued, n, last = time.perf_counter() - start, 0, 0.0
        while not isinstance(result, Issued):
            time.sleep(result.retry_after.total_seconds())
            start = time.perf_counter()
            result = issuer.poll(result.external_id, request)
            n, last = n + 1, time.perf_counter() - start
        with lock:
            issues.append(issued)
            polls.append(n)
            lasts.append(last)

    plain = _run("plugin", concurrency, _requests(count, challenge), one)
    return LemurResult(
        client="plugin",
        concurrency=concurrency,
        orders=count,
        seconds=plain.seconds,
        latencies=plain.latencies,
        post_seconds=issues,
        polls=polls,
        runner_waits=[0.0],
        poll_runs=lasts,
        runners=0,
    )


def _account(peer: PebblePeer) -> dict[str, str]:
    connected = ACMEIssuer(ACMEOptions.model_validate(base_options(peer)), make_context(None))
    stored = connected.connect().options
    assert isinstance(stored, ACMEOptions)
    assert stored.account_key is not None
    assert stored.account_url is not None
    return {"account_key": stored.account_key.get_secret_value(), "account_url": stored.account_url}


def _log(message: str, started: float) -> None:
    print(f"[acme-lemur {time.perf_counter() - started:5.1f} s] {message}", file=sys.stderr)


Measured = list[tuple[str, list[Result], str | None]]


def measure(args: argparse.Namespace, tmp: Path) -> Measured:
    """Per challenge: the rows, and why Lemur's rows are missing (its warm-up order failed)."""
    t0 = time.perf_counter()
    levels = [int(c) for c in args.concurrency.split(",")]
    counts = [int(c) for c in args.orders.split(",")]
    counts += [counts[-1]] * (len(levels) - len(counts))
    kinds = args.clients.split(",")
    bind = BindServer(tmp / "bind")
    env = {"LEMUR_OUTBOUND_ALLOWED_NETWORKS": "127.0.0.0/8"}
    if args.server_src:  # another tree's lemur package, first on the server's path
        env["PYTHONPATH"] = str(Path(args.server_src).resolve())
    server = Server(args.backend, workers=args.workers, extra_env=env)
    direct = lemurs = None
    out: Measured = []
    try:
        direct = PebblePeer(tmp / "pebble-direct", bind)
        lemurs = PebblePeer(tmp / "pebble-lemur", bind, http_port=server.port)
        _log("BIND and two Pebbles ready", t0)
        prepare(server)
        server.start()
        _log(f"lemur serve ready ({args.backend}, {args.workers} workers)", t0)
        account = _account(direct)
        for challenge in args.challenges.split(","):
            options = dns_options if challenge == "dns-01" else base_options
            authority = create_authority(server, f"acme-{challenge}", options(lemurs))
            issuer = ACMEIssuer(
                ACMEOptions.model_validate(options(direct, **account)),
                make_context(direct.responder),
            )
            clients = {
                "plugin": plugin_issuance(issuer, None),
                "bare acme": bare_issuance(
                    direct, account["account_key"], account["account_url"], challenge, None
                ),
            }
            broken: str | None = None
            for kind in kinds:  # warm-up: imports, first TLS handshakes, Lemur's caches
                if kind != "lemur":
                    clients[kind](_requests(1, challenge)[0])
                    continue
                try:
                    lemur_order(server, authority, challenge, args.watch)
                except RuntimeError as exc:
                    broken = str(exc)
            _log(f"{challenge}: warmed up", t0)
            results: list[Result] = []
            for level, count in zip(levels, counts, strict=False):
                for kind in kinds:
                    if kind == "plugin":
                        results.append(run_plugin(issuer, challenge, level, count))
                    elif kind != "lemur":
                        results.append(
                            _run(kind, level, _requests(count, challenge), clients[kind])
                        )
                    elif broken is None:
                        results.append(
                            run_lemur(server, authority, challenge, level, count, args.watch)
                        )
                _log(f"{challenge}: {count} orders at {level} done", t0)
            out.append((challenge, results, broken))
    finally:
        server.destroy()
        for peer in (lemurs, direct):
            if peer is not None:
                peer.stop()
        bind.stop()
    return out


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.2f}" if values else "-"


def table(measured: Measured) -> str:
    lines = []
    for challenge, results, broken in measured:
        lines += [
            f"\nACME issuance on Pebble ({challenge})",
            f"{'client':<10} {'conc':>4} {'orders':>6} {'orders/s':>9} {'p50 s':>6} "
            f"{'p95 s':>6} {'202 s':>6} {'polls':>5} {'wait s':>6} {'poll s':>6} {'runners':>7}",
        ]
        for r in results:
            extra = f"{'-':>6} {'-':>5} {'-':>6} {'-':>6} {'-':>7}"
            if isinstance(r, LemurResult):
                extra = (
                    f"{statistics.median(r.post_seconds):>6.2f} "
                    f"{statistics.fmean(r.polls):>5.1f} {_mean(r.runner_waits):>6} "
                    f"{_mean(r.poll_runs):>6} {r.runners or '-':>7}"
                )
            lines.append(
                f"{r.client:<10} {r.concurrency:>4} {r.orders:>6} {r.rate:>9.2f} "
                f"{statistics.median(r.latencies):>6.2f} {r.percentile(0.95):>6.2f} {extra}"
            )
        if broken:
            lines.append(f"lemur      FAILED (no rows): {broken}")
    lines.append(
        "\nlemur: p50/p95 from sending the POST to the request's finished_at. 202 s: median "
        "time to the 202 (issue(): order placed, answers in place). polls: request.poll jobs "
        "per order. wait s: mean time from a poll being due (retry_after after it was "
        "enqueued) to a runner claiming it. poll s: mean time from the claim of an order's "
        "last poll to its certificate stored (includes waiting behind the other polls "
        "claimed in the same batch). runners: job runners (serve workers) that ran polls. "
        "plugin: 202 s is issue(), poll s the last poll(), polled exactly at retry_after."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", default="3,16", help="orders per batch, per concurrency")
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--challenges", default="dns-01", help="dns-01, http-01 or both")
    parser.add_argument("--clients", default="bare acme,plugin,lemur")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--workers", type=int, default=2, help="lemur serve --workers")
    parser.add_argument("--watch", type=float, default=0.5, help="s between GETs of a request")
    parser.add_argument(
        "--server-src",
        help="run lemur serve with this directory (holding a lemur package, e.g. a patched "
        "copy of src/) first on its PYTHONPATH",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-acme-lemur-") as tmp:
        measured = measure(args, Path(tmp))
    print(table(measured))
    print(f"(whole run {time.perf_counter() - started:.0f} s)")
    return 1 if any(broken for _, _, broken in measured) else 0


if __name__ == "__main__":
    raise SystemExit(main())
