"""lemur cert deploy | deployments | undeploy | rotate | blast-radius: where a certificate
is deployed, and putting it (or its replacement) there. Deployments run as jobs on the
server; ``--wait`` follows them with a progress bar until each is deployed, failed or
rolled back."""

from __future__ import annotations

import time

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from lemur.cli.client import JSON, TOKEN, URL, LemurClient, connect
from lemur.cli.destinations import pick, print_endpoints
from lemur.cli.options import record_id
from lemur.cli.output import EXIT_CHECK_FAILED, col, emit, err, out, table, when
from lemur.deployments.schemas import BlastRadiusOut, DeploymentOut, RotationOut
from lemur.ids import MAX_ID

CERTS = "/api/v1/certificates"
FINISHED = {"deployed", "failed", "rolled_back", "replaced", "removed"}
BAD = {"failed", "rolled_back"}
STATE_STYLE = {
    "pending": "cyan",
    "deployed": "green",
    "failed": "bold red",
    "rolled_back": "bold yellow",
    "replaced": "dim",
    "removing": "cyan",
    "removed": "dim",
}
WAIT = typer.Option(
    0, "--wait", min=0, max=3600, help="seconds to follow the deployments (0: return at once)"
)


def show_deployments(rows: list[DeploymentOut]) -> None:
    table(
        "Deployments",
        [
            col("destination"),
            col("plugin"),
            col("state", fixed=True),
            col("where", min_width=16),
            col("attempts", right=True),
            col("deployed (UTC)"),
            col("last error", min_width=20),
        ],
        [
            (
                d.destination_name,
                d.plugin,
                Text(d.state, style=STATE_STYLE.get(d.state, "")),
                d.ref or "",
                d.attempts,
                when(d.deployed_at) if d.deployed_at else "",
                d.last_error or "",
            )
            for d in rows
        ],
    )


def follow(
    client: LemurClient, certificate_id: int, ids: set[int], seconds: int
) -> list[DeploymentOut]:
    """Poll the certificate's deployments ``ids`` until each has finished (or the time is
    up), with a progress bar on the terminal."""
    deadline = time.monotonic() + seconds
    path = f"{CERTS}/{certificate_id}/deployments"
    with Progress(
        TextColumn("deploying certificate {task.fields[cert]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("deploy", total=len(ids), cert=certificate_id)
        while True:
            rows = [d for d in client.get(path, list[DeploymentOut]) if d.id in ids]
            done = sum(1 for d in rows if d.state in FINISHED)
            progress.update(task, completed=done)
            if done == len(rows) or time.monotonic() >= deadline:
                return rows
            time.sleep(0.5)


def _finish(rows: list[DeploymentOut], as_json: bool, note: str) -> None:
    emit(rows, as_json, show_deployments, note=note)
    if any(d.state in BAD or d.state not in FINISHED for d in rows):
        raise typer.Exit(EXIT_CHECK_FAILED)


def deploy(
    certificate_id: int = record_id("certificate"),
    to: list[str] | None = typer.Option(
        None,
        "--to",
        help="a destination (name or id) to deploy to; repeatable; default: "
        "again to all of the certificate's destinations",
    ),
    wait: int = WAIT,
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Deploy a certificate (its key goes only to the destination, never to you). With
    --wait, exit 0 when every deployment is verified, 4 when one failed or was rolled back."""
    with connect(url, token) as client:
        ids = [pick(client, d, option="to").id for d in to or []]
        rows = client.post(
            f"{CERTS}/{certificate_id}/deploy", {"destinations": ids}, list[DeploymentOut]
        )
        if wait:
            wanted = set(ids) or {d.destination_id for d in rows}
            rows = follow(
                client,
                certificate_id,
                {d.id for d in rows if d.destination_id in wanted},
                wait,
            )
    if not wait:
        emit(rows, as_json, show_deployments, note="deployments queued")
        return
    _finish(rows, as_json, f"certificate {certificate_id}")


def deployments(
    certificate_id: int = record_id("certificate"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Where the certificate is deployed: state, reference, attempts, last error."""
    with connect(url, token) as client:
        rows = client.get(f"{CERTS}/{certificate_id}/deployments", list[DeploymentOut])
    emit(rows, as_json, show_deployments)


def undeploy(
    certificate_id: int = record_id("certificate"),
    destination: str = typer.Option(..., "--from", help="the destination (name or id)"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Take the certificate off a destination (removed at the target where the plugin can)."""
    with connect(url, token) as client:
        d = pick(client, destination, option="from")
        response = client.request("DELETE", f"{CERTS}/{certificate_id}/destinations/{d.id}")
        rows = client.parse(response, list[DeploymentOut])
    emit(rows, as_json, show_deployments, note=f"certificate {certificate_id} leaves {d.name}")


def rotate(
    certificate_id: int = record_id("certificate"),
    to: int = typer.Option(
        ..., "--to", min=1, max=MAX_ID, help="the certificate that takes its place"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="show what would change, change nothing"),
    wait: int = WAIT,
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Put certificate --to everywhere this one is deployed: its destinations, their
    endpoints and load balancer listeners. The old one leaves each destination once the new
    one is verified there; where verification fails, the old one is put back."""
    with connect(url, token) as client:
        plan = client.post(
            f"{CERTS}/{certificate_id}/rotate", {"to": to, "dry_run": dry_run}, RotationOut
        )
        if dry_run or not wait or not plan.deployment_ids:
            emit(plan, as_json, show_rotation)
            return
        rows = follow(client, to, set(plan.deployment_ids), wait)
    _finish(rows, as_json, f"certificate {to} replaces {certificate_id}")


def show_rotation(plan: RotationOut) -> None:
    verb = "would" if plan.dry_run else "will"
    out.print(
        f"certificate {plan.new_id} {verb} replace certificate {plan.old_id} at "
        f"{len(plan.steps)} destination(s)"
    )
    for step in plan.steps:
        out.print(
            f"- {step.destination_name} ({step.plugin}, now {step.old_state or 'pending'}): "
            f"{step.action}"
        )
        print_endpoints(step.endpoints)


def show_blast(b: BlastRadiusOut) -> None:
    out.print(
        f"{b.subject}: {b.certificates} certificate(s) at {len(b.destinations)} "
        f"destination(s), {b.endpoints} endpoint(s)"
        + (" (first 1000 certificates)" if b.truncated else "")
    )
    for d in b.destinations:
        out.print(
            f"- {d.destination_name} ({d.plugin}): certificates "
            + ", ".join(f"{c} ({s})" for c, s in zip(d.certificate_ids, d.states, strict=True))
        )
        print_endpoints(d.endpoints)


def blast_radius(
    certificate_id: int = record_id("certificate"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Every destination and endpoint that depends on this certificate."""
    with connect(url, token) as client:
        b = client.get(f"{CERTS}/{certificate_id}/blast-radius", BlastRadiusOut)
    emit(b, as_json, show_blast)
