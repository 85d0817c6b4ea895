"""Issuance throughput of an older commit and of this checkout, measured in the same run.

``python -m bench --only issuance --compare-ref REF --compare-runs 3`` exports REF with
``git archive`` into a temporary directory, installs it into its own virtual environment
there (the same Python, pip's cache), and then, for each backend, starts one production-like
server from each tree (bench/harness.py: ``lemur init``, ``lemur serve --no-init --workers
2``) and runs wrk against them in turn: old, new, old, new, ... ``--compare-runs`` times for
each key type and number of clients. Interleaving spreads a drift of the machine's load over
both trees instead of charging it to one. Everything is removed afterwards (servers stopped
by their PIDs, the databases dropped, the temporary directory deleted).
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.harness import LEMUR, Server, authority_id, pg_available, running_server
from bench.issuance import ISSUING_CA, _wrk, warm_up

REPO = Path(__file__).resolve().parent.parent
TREES = ("old", "new")


@dataclass
class CompareRun:
    backend: str
    key_type: str
    clients: int
    run: int
    tree: str  # "old" (the ref) or "new" (this checkout)
    requests: int
    rate: float
    p50_ms: float
    p95_ms: float
    non2xx: int
    socket_errors: int

    @property
    def failed(self) -> bool:
        return self.non2xx > 0 or self.socket_errors > 0 or self.requests == 0


@dataclass
class Comparison:
    ref: str
    commit: str
    runs: list[CompareRun]
    install_seconds: float

    def ratios(self, backend: str, key_type: str, clients: int) -> list[float]:
        """new/old certs/s of each pair of runs (run i of the new tree over run i of the old)."""
        pick = {
            (r.tree, r.run): r.rate
            for r in self.runs
            if (r.backend, r.key_type, r.clients) == (backend, key_type, clients)
        }
        return [
            pick[("new", i)] / pick[("old", i)]
            for tree, i in sorted(pick)
            if tree == "old" and pick[("old", i)] and ("new", i) in pick
        ]

    @property
    def failed(self) -> bool:
        return not self.runs or any(r.failed for r in self.runs)


def resolve(ref: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"--compare-ref: '{ref}' is not a commit of {REPO}: {done.stderr.strip()}")
    return done.stdout.strip()


@contextlib.contextmanager
def installed(commit: str, log: Callable[[str], None]) -> Iterator[tuple[str, float]]:
    """``commit`` exported and installed in a temporary directory: its ``lemur`` script and
    the seconds the installation took. The directory is removed on exit."""
    root = Path(tempfile.mkdtemp(prefix="lemur-compare-"))
    try:
        started = time.perf_counter()
        tree, venv = root / "tree", root / "venv"
        tree.mkdir()
        log(f"[compare] exporting {commit[:12]} into {tree}")
        archive = subprocess.Popen(
            ["git", "-C", str(REPO), "archive", "--format=tar", commit], stdout=subprocess.PIPE
        )
        subprocess.run(["tar", "-x", "-C", str(tree)], stdin=archive.stdout, check=True)
        if archive.wait() != 0:
            raise RuntimeError(f"git archive {commit} failed")
        log(f"[compare] installing it into {venv} (pip's cache is used)")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-e", str(tree)],
            check=True,
        )
        lemur = venv / "bin" / "lemur"
        if not lemur.exists():
            raise RuntimeError(f"installing {commit} made no lemur script")
        yield str(lemur), time.perf_counter() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _measure(
    server: Server, tree: str, run: int, key_type: str, clients: int, seconds: float, ca: int
) -> CompareRun:
    raw = _wrk(
        server.base_url, str(server.token), str(server.team_id), ca, key_type, clients, seconds
    )
    elapsed = raw["duration_us"] / 1e6
    return CompareRun(
        backend=server.backend,
        key_type=key_type,
        clients=clients,
        run=run,
        tree=tree,
        requests=raw["requests"],
        rate=(raw["requests"] - raw["non2xx"]) / elapsed if elapsed else 0.0,
        p50_ms=raw["p50_ms"],
        p95_ms=raw["p95_ms"],
        non2xx=raw["non2xx"],
        socket_errors=raw["socket_errors"] + raw["timeouts"],
    )


def run(
    ref: str,
    backends: list[str],
    key_types: list[str],
    concurrency: list[int],
    duration: float,
    runs: int,
    log: Callable[[str], None] = print,
) -> Comparison:
    commit = resolve(ref)
    results: list[CompareRun] = []
    with installed(commit, log) as (old_lemur, install_seconds):
        for backend in backends:
            if backend == "postgresql" and not pg_available():
                log("!! PostgreSQL is not reachable (BENCH_PG_URL); skipping its comparison")
                continue
            with (
                running_server(backend, executable=old_lemur) as old,
                running_server(backend, executable=LEMUR) as new,
            ):
                servers = {"old": old, "new": new}
                cas = {tree: authority_id(s, ISSUING_CA) for tree, s in servers.items()}
                log(f"[compare] {backend}: old and new servers ready")
                for key_type in key_types:
                    for tree in TREES:
                        warm_up(servers[tree], key_type, cas[tree])
                    for clients in concurrency:
                        for i in range(1, runs + 1):
                            for tree in TREES:
                                result = _measure(
                                    servers[tree], tree, i, key_type, clients, duration, cas[tree]
                                )
                                results.append(result)
                                log(f"[compare] {format_run(result)}")
    return Comparison(ref, commit, results, install_seconds)


HEADER = (
    f"{'backend':<10} {'key':<8} {'clients':>7} {'run':>3} {'tree':<4} {'certs/s':>8} "
    f"{'p50 ms':>8} {'p95 ms':>8} {'errors':>6}"
)


def format_run(r: CompareRun) -> str:
    return (
        f"{r.backend:<10} {r.key_type:<8} {r.clients:>7} {r.run:>3} {r.tree:<4} {r.rate:>8.1f} "
        f"{r.p50_ms:>8.1f} {r.p95_ms:>8.1f} {r.non2xx + r.socket_errors:>6}"
        + (" FAILED" if r.failed else "")
    )


def table(comparison: Comparison) -> str:
    lines = [HEADER, *(format_run(r) for r in comparison.runs), ""]
    groups = sorted({(r.backend, r.key_type, r.clients) for r in comparison.runs})
    for backend, key_type, clients in groups:
        ratios = comparison.ratios(backend, key_type, clients)
        rates = {
            tree: [
                r.rate
                for r in comparison.runs
                if (r.backend, r.key_type, r.clients, r.tree) == (backend, key_type, clients, tree)
            ]
            for tree in TREES
        }
        median = statistics.median(ratios) if ratios else float("nan")
        lines.append(
            f"{backend} {key_type} {clients} clients: median certs/s old "
            f"{statistics.median(rates['old']):.1f}, new {statistics.median(rates['new']):.1f}; "
            f"median ratio new/old {median:.3f} (per run: "
            + ", ".join(f"{x:.3f}" for x in ratios)
            + ")"
        )
    return "\n".join(lines)


def to_json(comparison: Comparison) -> dict[str, Any]:
    groups = sorted({(r.backend, r.key_type, r.clients) for r in comparison.runs})
    return {
        "ref": comparison.ref,
        "commit": comparison.commit,
        "install_seconds": comparison.install_seconds,
        "runs": [asdict(r) for r in comparison.runs],
        "median_ratio_new_over_old": {
            f"{b} {k} {c}": statistics.median(comparison.ratios(b, k, c))
            for b, k, c in groups
            if comparison.ratios(b, k, c)
        },
    }
