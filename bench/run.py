"""Run every benchmark and print one table: ``python -m bench`` (``make bench``).

Benchmarks report; they do not assert. The exit status is 1 only when a run itself
failed (non-2xx responses under load, a server that did not start, nothing measured).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench import compare, inventory, issuance, jobs
from bench.harness import BACKENDS


def machine() -> dict[str, Any]:
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kib = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    os_name = "unknown"
    with_os = Path("/etc/os-release")
    if with_os.exists():
        for line in with_os.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "os": os_name,
        "python": platform.python_version(),
        "load_average": os.getloadavg(),
    }


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument(
        "--only",
        choices=("issuance", "inventory", "jobs"),
        help="run one benchmark instead of all",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="validation run: 3 s load runs, 2,000 and 20,000 certificates, 10 reps",
    )
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument(
        "--compare-ref",
        metavar="REF",
        help="issuance only: measure this git commit (e.g. 43fa1ee) and this checkout in turn "
        "instead of the usual issuance table (see bench/compare.py)",
    )
    parser.add_argument(
        "--compare-runs",
        type=int,
        default=3,
        metavar="N",
        help="with --compare-ref: runs of each tree per backend, key type and clients",
    )
    issuance.add_arguments(parser.add_argument_group("issuance"), backends=False)  # type: ignore[arg-type]
    inventory.add_arguments(parser.add_argument_group("inventory"), backends=False)  # type: ignore[arg-type]
    jobs.add_arguments(parser.add_argument_group("jobs"), backends=False)  # type: ignore[arg-type]
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.baseline_seconds = 3.0, 2.0
        args.sizes, args.reps = "2000,20000", 10
        args.jobs = 2000
    backends = args.backends.split(",")
    info = machine()
    started = time.perf_counter()
    log(f"[bench] {info}")

    if args.compare_ref:
        if args.only != "issuance":
            parser.error("--compare-ref compares issuance: add --only issuance")
        if args.compare_runs < 1:
            parser.error("--compare-runs must be at least 1")
        return compare_main(args, backends, info, started)

    load_results: list[issuance.LoadResult] = []
    size_results: list[inventory.SizeResult] = []
    notes: list[str] = []
    job_results: list[jobs.JobResult] = []
    if args.only in (None, "issuance"):
        load_results = issuance.run(
            backends,
            args.key_types.split(","),
            [int(c) for c in args.concurrency.split(",")],
            args.duration,
            args.baseline_seconds,
            log=log,
        )
    if args.only in (None, "inventory"):
        size_results, notes = inventory.run(
            backends,
            [int(s) for s in args.sizes.split(",")],
            args.reps,
            args.deep_page,
            args.processes,
            log=log,
        )

    if args.only in (None, "jobs"):
        job_results, job_notes = jobs.run(backends, args.jobs, args.celery_concurrency, log=log)
        notes += job_notes

    print()
    print(
        f"Lemur benchmarks, {info['date']}: {info['cores']} cores ({info['cpu']}), "
        f"{info['memory_gib']} GiB, {info['os']}, Python {info['python']}; "
        f"load average at start {info['load_average'][0]:.2f}; "
        f"server: lemur serve --no-init --workers 2 (uvicorn)"
    )
    if load_results:
        print("\nIssuance (POST /api/v1/certificates, server-side keys, local-issuing-ca; wrk)")
        print(issuance.table(load_results))
        print(
            "crypto/s: keygen + build + sign in-process on one core; ratio = certs/s / crypto/s; "
            "service/s: CertificateService.issue in-process on one core (DB, audit, no HTTP); "
            "prototype: bench/prototype.py (FastAPI + cryptography + SQLite: keygen, sign, one "
            "INSERT; no auth, audit, encryption or name index) under the same uvicorn settings; "
            "proto = certs/s / the prototype's at the same clients"
        )
    if size_results:
        print(
            "\nInventory (GET, admin token; p50/p95 over repeated calls; SQL = statements/request)"
        )
        print(inventory.table(size_results))
    if job_results:
        print("\nJob throughput (no-op jobs enqueued in bulk, then drained; jobs/s)")
        print(jobs.table(job_results))
    for note in notes:
        print(f"note: {note}")
    failed = [r for r in load_results if r.failed]
    for r in failed:
        print(
            f"FAILED: {r.backend} {r.key_type} {r.clients} clients: {r.non2xx} non-2xx, "
            f"{r.socket_errors} socket errors/timeouts; first: {r.first_error}"
        )
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "issuance": issuance.to_json(load_results),
                    "inventory": inventory.to_json(size_results),
                    "jobs": jobs.to_json(job_results),
                    "notes": notes,
                },
                indent=2,
                default=str,
            )
        )
    return 1 if failed or not (load_results or size_results or job_results) else 0


def compare_main(
    args: argparse.Namespace, backends: list[str], info: dict[str, Any], started: float
) -> int:
    comparison = compare.run(
        args.compare_ref,
        backends,
        args.key_types.split(","),
        [int(c) for c in args.concurrency.split(",")],
        args.duration,
        args.compare_runs,
        log=log,
    )
    print()
    print(
        f"Lemur issuance, {comparison.ref} ({comparison.commit[:12]}, old) against this "
        f"checkout (new), {info['date']}: {info['cores']} cores ({info['cpu']}), "
        f"Python {info['python']}; load average at start {info['load_average'][0]:.2f}; "
        f"server: lemur serve --no-init --workers 2 (uvicorn); wrk {args.duration:g} s per run, "
        f"runs interleaved old, new, old, new, ...; old installed in "
        f"{comparison.install_seconds:.0f} s"
    )
    print(compare.table(comparison))
    print(f"\ntotal time {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(
            json.dumps({"machine": info, "compare": compare.to_json(comparison)}, indent=2)
        )
    return 1 if comparison.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
