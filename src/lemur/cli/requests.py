"""lemur request: requests waiting at a CA that answers later (ACME, AWS Private CA): list,
show, cancel, and wait for one, through the API of a running Lemur (LEMUR_URL,
LEMUR_TOKEN)."""

from __future__ import annotations

import time

import typer
from rich.markup import escape
from rich.text import Text

from lemur.cli.client import JSON, TOKEN, URL, LemurClient, connect
from lemur.cli.display import fields, utc
from lemur.cli.options import record_id
from lemur.cli.output import EXIT_CHECK_FAILED, col, emit, err, more, out, table, time_col, when
from lemur.orders.models import RequestState
from lemur.orders.schemas import RequestOut, RequestPageOut

requests = typer.Typer(
    help="Requests pending at a CA that answers later: list, show, cancel, wait (through "
    "the API: LEMUR_URL, LEMUR_TOKEN).",
    no_args_is_help=True,
)

API = "/api/v1/requests"
MAX_WAIT = 3600
POLL_SECONDS = 1.0
STATE_STYLE = {
    RequestState.PENDING: "cyan",
    RequestState.ISSUED: "green",
    RequestState.FAILED: "bold red",
    RequestState.CANCELLED: "dim",
}


def state_text(state: RequestState) -> Text:
    return Text(state.value, style=STATE_STYLE[state])


def print_request(r: RequestOut) -> None:
    out.print(f"request [bold]{r.id}[/]: {escape(', '.join(r.names) or r.common_name or '')}")
    fields(
        [
            ("state", r.state.value),
            ("authority", r.authority),
            ("team", r.team),
            ("requested by", r.requested_by),
            ("at the CA", r.note or None),
            ("CA reference", r.external_id),
            ("error", r.last_error),
            ("polls", str(r.polls)),
            ("next poll", utc(r.next_poll_at) if r.state is RequestState.PENDING else None),
            ("renews", f"certificate {r.replaces_id}" if r.replaces_id else None),
            ("certificate", f"certificate {r.certificate_id}" if r.certificate_id else None),
            ("created", utc(r.created_at)),
            ("finished", utc(r.finished_at)),
        ]
    )
    if r.state is RequestState.ISSUED and r.certificate_id:
        out.print(f"next: `lemur cert show {r.certificate_id}`")
    elif r.state is RequestState.PENDING:
        out.print(f"next: `lemur request wait {r.id}`, or `lemur request cancel {r.id}`")


def follow(client: LemurClient, request: RequestOut, seconds: float) -> RequestOut:
    """Poll the request until it is no longer pending or ``seconds`` have passed, showing
    what the CA is doing."""
    deadline = time.monotonic() + seconds
    with err.status(
        f"request {request.id}: {escape(request.note or 'pending at the CA')}"
    ) as status:
        while request.state is RequestState.PENDING and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            request = client.get(f"{API}/{request.id}", RequestOut)
            status.update(
                f"request {request.id}: {escape(request.note or request.state.value)}"
                + (f" ({escape(request.last_error)})" if request.last_error else "")
            )
    return request


def finish(request: RequestOut, as_json: bool) -> None:
    """Print the request; exit 4 (check failed) when it failed or was cancelled."""
    emit(request, as_json, print_request)
    if request.state in (RequestState.FAILED, RequestState.CANCELLED):
        raise typer.Exit(EXIT_CHECK_FAILED)


@requests.command("list")
def list_requests(
    state: RequestState | None = typer.Option(None, "--state", help="only requests in this state"),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    cursor: str | None = typer.Option(None, "--cursor", help="next_cursor of the previous page"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """List the requests you may see, newest first."""
    with connect(url, token) as client:
        page = client.get(
            API, RequestPageOut, state=state.value if state else None, limit=limit, cursor=cursor
        )

    def show(p: RequestPageOut) -> None:
        table(
            "Requests",
            [
                col("id", fixed=True, right=True),
                col("names", min_width=20),
                col("state", fixed=True),
                col("authority"),
                col("team"),
                time_col("created (UTC)"),
                col("at the CA / error", min_width=20),
            ],
            [
                (
                    r.id,
                    ", ".join(r.names) or r.common_name or "",
                    state_text(r.state),
                    r.authority,
                    r.team,
                    when(r.created_at),
                    r.last_error or r.note,
                )
                for r in p.items
            ],
        )
        more(p.next_cursor)

    emit(page, as_json, show)


@requests.command("show")
def show_request(
    request_id: int = record_id("request"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """A request: its state, what the CA is doing, the last error, the certificate."""
    with connect(url, token) as client:
        r = client.get(f"{API}/{request_id}", RequestOut)
    emit(r, as_json, print_request)


@requests.command("wait")
def wait_request(
    request_id: int = record_id("request"),
    seconds: int = typer.Option(300, "--timeout", min=1, max=MAX_WAIT, help="seconds to wait"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Wait until the CA has answered: exit 0 when issued, 4 when it failed or was
    cancelled, 4 too when still pending at the timeout."""
    with connect(url, token) as client:
        r = follow(client, client.get(f"{API}/{request_id}", RequestOut), seconds)
    finish(r, as_json)
    if r.state is RequestState.PENDING:
        raise typer.Exit(EXIT_CHECK_FAILED)


@requests.command("cancel")
def cancel_request(
    request_id: int = record_id("request"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Stop waiting for the CA: the order is given up there where it can be (audited)."""
    with connect(url, token) as client:
        r = client.post(f"{API}/{request_id}/cancel", None, RequestOut)
    emit(r, as_json, print_request, note=f"request {r.id} is cancelled")


WAIT_HELP = (
    "when the CA answers later (ACME, AWS Private CA): seconds to wait for the certificate "
    "(0: return at once with the pending request)"
)


def wait_option() -> int:
    return typer.Option(120, "--wait", min=0, max=MAX_WAIT, help=WAIT_HELP)  # type: ignore[no-any-return]


def pending_answer(
    client: LemurClient, request: RequestOut, seconds: int, as_json: bool
) -> int | None:
    """Follow a pending request for ``seconds``: the certificate id once issued (the caller
    shows it), else None after printing the request (exit 4 when it failed)."""
    if seconds:
        request = follow(client, request, seconds)
    if request.state is RequestState.ISSUED and request.certificate_id is not None:
        return request.certificate_id
    if request.state is RequestState.PENDING and not as_json:
        out.print(f"pending at the CA of {escape(request.authority)}:")
    finish(request, as_json)
    return None
