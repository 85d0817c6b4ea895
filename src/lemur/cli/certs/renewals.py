"""lemur cert renewals: what the next renewal pass would renew and what it would only notify
(--dry-run, the default), or run the pass now (--run, staff)."""

from __future__ import annotations

import typer
from rich.text import Text

from lemur.cli.client import JSON, TOKEN, URL, connect
from lemur.cli.display import day
from lemur.cli.options import ranged
from lemur.cli.output import UsageError, col, emit_json, out, table, time_col
from lemur.renewal.api import MAX_PREVIEW_PAGE, PreviewItemOut, PreviewOut, RunOut

PREVIEW = "/api/v1/renewals/preview"
RUN = "/api/v1/renewals/run"
REASONS = {
    "csr": "issued from a CSR: send a new CSR (lemur cert renew ID --csr FILE)",
    "policy": "policy is notify: renew by hand (lemur cert renew ID)",
    "no_issuer": "no authority Lemur can sign with: renew at its issuer and import",
}


def _action(item: PreviewItemOut) -> Text:
    if item.action == "renew":
        state = f" (job {item.job_state})" if item.job_state else ""
        return Text("renew" + state, style="green")
    told = " (owners told)" if item.owners_notified else ""
    return Text("notify" + told, style="yellow")


def renewals(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="show what the next pass would do (the default; changes nothing)"
    ),
    run: bool = typer.Option(False, "--run", help="run the renewal pass now (admin, security)"),
    all_pages: bool = typer.Option(False, "--all-pages", help="fetch every page"),
    limit: int = ranged(100, "--limit", within=(1, MAX_PREVIEW_PAGE), help="page size"),
    cursor: str | None = typer.Option(None, "--cursor", help="from the previous page's hint"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Certificates inside their renewal window and what the next pass does with each:
    renew (a new key, same names, team, profile and authority) or notify their owners (with
    the reason: csr, policy, no_issuer)."""
    if dry_run and run:
        raise UsageError(
            "--dry-run shows what the pass would do and --run runs it: choose one",
            code="conflicting_options",
            field="run",
        )
    with connect(url, token) as client:
        if run:
            started = client.post(RUN, None, RunOut)
            if as_json:
                emit_json(started.model_dump(mode="json"))
            elif started.queued:
                out.print(f"renewal pass queued as job {started.job_id}")
            else:
                out.print("a renewal pass requested this minute is queued already")
            return
        page = client.get(PREVIEW, PreviewOut, limit=limit, cursor=cursor)
        while all_pages and page.next_cursor:
            more = client.get(PREVIEW, PreviewOut, limit=limit, cursor=page.next_cursor)
            page = PreviewOut(
                at=page.at, items=[*page.items, *more.items], next_cursor=more.next_cursor
            )
    if as_json:
        emit_json(page.model_dump(mode="json"))
        return
    renew = sum(1 for i in page.items if i.action == "renew")
    table(
        None,
        [
            col("id", fixed=True, right=True),
            col("names", min_width=10),
            "team",
            time_col("expires (UTC)"),
            col("action", fixed=True),
            col("why / policy", min_width=10),
        ],
        [
            (
                i.certificate_id,
                Text(", ".join(i.names) or (i.common_name or "")),
                Text(i.team.name if i.team else ""),
                day(i.not_after),
                _action(i),
                Text(
                    REASONS.get(i.reason or "", "")
                    or f"policy {i.policy} ({i.policy_source}), window from {day(i.window_starts_at)}"
                ),
            )
            for i in page.items
        ],
    )
    out.print(
        f"{renew} to renew, {len(page.items) - renew} to notify (dry run: nothing was changed)"
    )
    if page.next_cursor:
        out.print(f"[dim]more: add --cursor {page.next_cursor} (or --all-pages for everything)[/]")
