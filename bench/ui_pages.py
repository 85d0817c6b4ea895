"""Server time per page of the web UI at 1,000,000 certificates, next to the JSON API call
for the same data in the same run (the baseline).

Pages: the dashboard ``/`` (as an admin: every certificate; and as a member of the largest
team: that team's), the inventory's first page ``/certificates``, a search
``/certificates?q=...`` and a certificate's page ``/certificates/{id}``. Each is fetched
over one keep-alive connection with a browser session (logged in through the real /login
form), twice to warm up, then ``--reps`` times; p50 and p95 of the time from sending the
request to the last byte of the answer (loopback, so this is the server's time). Then the
API call that answers the same data, with an API token of the same user, the same way.
A page that this checkout does not have yet (404) is skipped with a message.

The dashboard's figures are reused by each server process for 30 s (the default
``LEMUR_STATISTICS_MAX_AGE_SECONDS``), so the page times above are those of a warm cache;
what one computation of the figures costs (the first view of a scope, then once per 30 s
per process) is measured in-process: ``lemur.statistics.queries.figures`` ``--reps``
times per scope, with its statements counted.

The inventory is built once with bench/inventory.py's generator (really signed
certificates, skewed teams, lineages, revocations) and kept in ``--data-dir``
(bench/ui_dataset.py) for later runs: the first run at 1,000,000 takes most of an hour on
two busy cores, later runs start at once. ``--drop`` deletes it at the end.

Run: ``python -m bench.ui_pages`` (both databases, 1,000,000 certificates),
``python -m bench.ui_pages --quick`` (20,000), ``--backends sqlite``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import ui_dataset
from bench.harness import BACKENDS, Server

P95_TARGET_MS = 100.0  # issue 10: every page at 1,000,000 certificates, both databases
DEFAULT_DATA_DIR = Path(os.environ.get("BENCH_UI_DATA_DIR", "/tmp/lemur-bench-ui-pages"))
VIEWER = "bench-viewer"  # an admin with no team: the dashboard shows every certificate
MEMBER = "bench-member"  # a member of the largest team
PASSWORD = "bench-password-1234"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Timing:
    name: str
    path: str
    p50_ms: float | None
    p95_ms: float | None
    status: int | None
    api_path: str
    api_p50_ms: float | None
    api_p95_ms: float | None
    note: str = ""


@dataclass
class Computation:
    scope: str
    certificates: int
    median_ms: float
    max_ms: float
    statements: int


@dataclass
class BackendResult:
    backend: str
    size: int
    reused: bool
    load_seconds: float | None
    pages: list[Timing] = field(default_factory=list)
    computations: list[Computation] = field(default_factory=list)


def _percentile(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def _users(server: Server, member_team: int) -> tuple[str, str]:
    """The viewer (admin, no team) and the member, created on the first run; their tokens."""
    from lemur.accounts.models import Role, TokenScope
    from lemur.accounts.service import load_principal
    from lemur.authz import cli_principal
    from lemur.container import build_container
    from lemur.errors import NotFound
    from lemur.services import Services

    container = build_container(server.settings(), init=False)
    tokens = []
    try:
        for username, role in ((VIEWER, Role.ADMIN), (MEMBER, Role.MEMBER)):
            with Services(container, cli_principal()) as services:
                accounts = services.accounts()
                try:
                    user = accounts.find_user(username)
                except NotFound:
                    user, _ = accounts.create_user(username, role=role, password=PASSWORD)
                    if role is Role.MEMBER:
                        accounts.add_member(accounts.get_team(member_team), user)
            with Services(container, cli_principal()) as services:
                user = services.accounts().find_user(username)
                principal = load_principal(services.uow.read, user, via="cli")
                _, plaintext = services.tokens().create(
                    principal,
                    name=f"ui-pages-{int(time.time())}",
                    scope=TokenScope.READ,
                    expires_in_days=1,
                )
                tokens.append(plaintext)
    finally:
        container.close()
    return tokens[0], tokens[1]


def _browser(server: Server, username: str) -> httpx.Client:
    client = httpx.Client(base_url=server.base_url, timeout=120)
    page = client.get("/login")
    found = CSRF.search(page.text)
    if found is None:
        raise RuntimeError("no CSRF token on the login page")
    answer = client.post(
        "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": found.group(1)},
        follow_redirects=False,
    )
    if answer.status_code != 303:
        raise RuntimeError(f"login as {username} failed: {answer.status_code} {answer.text[:200]}")
    return client


def _time(client: httpx.Client, path: str, reps: int) -> tuple[float, float, int]:
    status = 0
    for _ in range(2):
        status = client.get(path).status_code
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        response = client.get(path)
        _ = response.content
        samples.append((time.perf_counter() - started) * 1000)
        status = response.status_code
    return _percentile(samples, 50), _percentile(samples, 95), status


def _probes(data: ui_dataset.Dataset) -> tuple[str, int]:
    """A search fragment and a certificate to show, from the generated rows (current,
    not renewed)."""
    now = dt.datetime.now(dt.UTC)
    current = [
        p
        for p in data.probes
        if dt.datetime.fromisoformat(p["not_after"]) > now + dt.timedelta(days=2)
        and p["replaced_by_id"] is None
        and not p["common_name"].startswith("*")
    ]
    chosen = current[len(current) // 2]
    label = chosen["common_name"].split(".")[0]
    fragment = label[:-1] if "-" in label else label
    renewed = [p for p in current if p["lineage"] > 1] or current
    return fragment, int(renewed[len(renewed) // 3]["id"])


def measure_pages(
    data: ui_dataset.Dataset, reps: int, viewer_token: str, member_token: str
) -> list[Timing]:
    fragment, detail = _probes(data)
    cases = [
        ("dashboard (admin, all)", VIEWER, "/", "/api/v1/statistics?scope=all", viewer_token),
        ("dashboard (member)", MEMBER, "/", "/api/v1/statistics?scope=mine", member_token),
        ("inventory first page", VIEWER, "/certificates", "/api/v1/certificates", viewer_token),
        (
            "search",
            VIEWER,
            f"/certificates?q={fragment}",
            f"/api/v1/certificates?name_contains={fragment}",
            viewer_token,
        ),
        (
            "detail",
            VIEWER,
            f"/certificates/{detail}",
            f"/api/v1/certificates/{detail}",
            viewer_token,
        ),
    ]
    browsers = {name: _browser(data.server, name) for name in (VIEWER, MEMBER)}
    out = []
    try:
        for name, who, path, api_path, token in cases:
            probe = browsers[who].get(path)
            if probe.status_code == 404:
                log(
                    f"!! {name}: {path} answers 404 on this checkout (page not merged yet); skipped"
                )
                out.append(Timing(name, path, None, None, 404, api_path, None, None, "no page yet"))
                continue
            p50, p95, status = _time(browsers[who], path, reps)
            with httpx.Client(
                base_url=data.server.base_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=120,
            ) as api:
                a50, a95, api_status = _time(api, api_path, reps)
            note = "" if status == 200 and api_status == 200 else f"status {status}/{api_status}"
            out.append(Timing(name, path, p50, p95, status, api_path, a50, a95, note))
            log(f"[ui-pages] {data.server.backend} {name}: p50 {p50:.1f} p95 {p95:.1f} ms")
    finally:
        for client in browsers.values():
            client.close()
    return out


def measure_computation(server: Server, member_team: int, reps: int) -> list[Computation]:
    """One computation of the dashboard's figures per scope, in-process, without the cache."""
    from sqlalchemy import event

    from lemur.container import build_container
    from lemur.statistics.queries import figures

    container = build_container(server.settings(), init=False)
    seen: list[str] = []

    def count(*_args: Any) -> None:
        seen.append("x")

    engine = container.db.read_engine
    event.listen(engine, "before_cursor_execute", count)
    out = []
    try:
        for scope, teams in (("all", None), ("mine (largest team)", frozenset({member_team}))):
            times = []
            total = 0
            for _ in range(reps + 1):
                seen.clear()
                with container.db.read() as session:
                    started = time.perf_counter()
                    found = figures(session, teams=teams, now=dt.datetime.now(dt.UTC))
                    times.append((time.perf_counter() - started) * 1000)
                total = found.total
            times = times[1:]  # the first warms the caches
            out.append(Computation(scope, total, statistics.median(times), max(times), len(seen)))
            log(
                f"[ui-pages] {server.backend} figures {scope}: median {statistics.median(times):.0f} ms"
            )
    finally:
        event.remove(engine, "before_cursor_execute", count)
        container.close()
    return out


def run(
    backends: list[str], size: int, reps: int, data_dir: Path, processes: int, drop: bool
) -> list[BackendResult]:
    results = []
    for backend in backends:
        data = ui_dataset.open_or_build(data_dir, backend, size, processes=processes, log=log)
        if data is None:
            continue
        member_team = data.team_ids[0]  # the generator's largest team
        # No job runner: its renewal pass would renew the generated certificates that are
        # in their renewal window (tens of thousands) while the pages are timed, and change
        # the kept inventory from run to run.
        data.server.extra_env["LEMUR_RUN_JOBS"] = "false"
        try:
            viewer_token, member_token = _users(data.server, member_team)
            startup = data.server.start()
            log(f"[ui-pages] {backend}: server ready in {startup:.1f} s")
            result = BackendResult(backend, size, data.reused, data.load_seconds)
            try:
                result.pages = measure_pages(data, reps, viewer_token, member_token)
            finally:
                data.server.stop()
            result.computations = measure_computation(data.server, member_team, max(3, reps // 3))
            results.append(result)
        finally:
            data.server.stop()
            if drop:
                ui_dataset.destroy(data_dir, backend, size)
    return results


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(results: list[BackendResult]) -> str:
    lines = []
    for r in results:
        took = f"built in {r.load_seconds:.0f} s" if r.load_seconds else "built"
        kept = f"kept inventory, {took}" if r.reused else took
        lines.append(f"{r.backend} {r.size:,} certificates ({kept})")
        lines.append(
            f"  {'page':<24} {'p50 ms':>7} {'p95 ms':>7} {'target':>7}   "
            f"{'API p50':>7} {'API p95':>7}  API call"
        )
        for p in r.pages:
            mark = " MISSED" if p.p95_ms is not None and p.p95_ms > P95_TARGET_MS else ""
            lines.append(
                f"  {p.name:<24} {_ms(p.p50_ms):>7} {_ms(p.p95_ms):>7} {'<=100':>7}   "
                f"{_ms(p.api_p50_ms):>7} {_ms(p.api_p95_ms):>7}  {p.api_path}"
                f"{mark}{'  (' + p.note + ')' if p.note else ''}"
            )
        for c in r.computations:
            lines.append(
                f"  figures, {c.scope}: {c.certificates:,} certificates, median "
                f"{c.median_ms:.0f} ms (max {c.max_ms:.0f}), {c.statements} statements "
                "(once per scope per process per 30 s)"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--quick", action="store_true", help="20,000 certificates, 10 reps")
    parser.add_argument("--drop", action="store_true", help="delete the kept inventory after")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    if args.quick:
        args.size, args.reps = 20_000, 10
    results = run(
        args.backends.split(","), args.size, args.reps, args.data_dir, args.processes, args.drop
    )
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0 if results else 1


if __name__ == "__main__":
    raise SystemExit(main())
