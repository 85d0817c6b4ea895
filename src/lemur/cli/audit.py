"""lemur audit list | verify | head: reading and checking the audit log."""

from __future__ import annotations

import datetime as dt

import typer
from rich.markup import escape

from lemur.audit.chain import RecordedHead, check_recorded_head, current_head, verify_chain
from lemur.audit.schemas import AuditEventOut, ChainProblemOut, VerifyOut
from lemur.audit.service import AuditFilter, list_events
from lemur.cli.context import local_container
from lemur.cli.output import (
    EXIT_CHECK_FAILED,
    col,
    emit_json,
    err,
    out,
    outcome,
    table,
    time_col,
    when,
)
from lemur.errors import LemurError

audit = typer.Typer(help="The audit log.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="print JSON instead of text")


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else (value if value.tzinfo else value.replace(tzinfo=dt.UTC))


@audit.command("list")
def audit_list(
    actor: str | None = typer.Option(None, help="e.g. user:alice or cli"),
    action: str | None = typer.Option(
        None, help="exact, or a prefix ending in '.' such as 'user.'"
    ),
    target_type: str | None = typer.Option(None),
    target_id: str | None = typer.Option(None),
    since: dt.datetime | None = typer.Option(None, help="UTC unless a zone is given"),
    until: dt.datetime | None = typer.Option(None),
    limit: int = typer.Option(50, min=1, max=500),
    cursor: str | None = typer.Option(None, help="next_cursor from the previous page"),
    as_json: bool = JSON,
) -> None:
    """List audit events, newest first."""
    flt = AuditFilter(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        since=_aware(since),
        until=_aware(until),
    )
    with local_container() as container, container.db.read() as session:
        page = list_events(session, flt, limit=limit, cursor=cursor)
        items = [AuditEventOut.of(e) for e in page.events]
    if as_json:
        emit_json(
            {"items": [i.model_dump(mode="json") for i in items], "next_cursor": page.next_cursor}
        )
        return
    table(
        "Audit events",
        [
            col("seq", fixed=True, right=True),
            time_col("time (UTC)", seconds=True),
            "actor",
            col("action", min_width=min(12, max((len(i.action) for i in items), default=6))),
            "target",
            col("outcome", fixed=True),
            "from",
        ],
        [
            (
                i.seq,
                when(i.occurred_at, seconds=True),
                i.actor,
                i.action,
                f"{i.target_type}:{i.target_id}" if i.target_type else "",
                outcome(i.outcome),
                i.client_address,
            )
            for i in items
        ],
        drop_empty=["from"],
    )
    if page.next_cursor:
        out.print(f"more: --cursor {page.next_cursor}")


@audit.command("verify")
def audit_verify(
    expect_head: str | None = typer.Option(
        None,
        help="SEQ:HASH recorded earlier elsewhere (from `lemur audit head`); that event must "
        "still be in the chain, unchanged",
    ),
    as_json: bool = JSON,
) -> None:
    """Check the hash chain; exit 1 and name each broken place if it was tampered with."""
    recorded = RecordedHead.parse(expect_head) if expect_head is not None else None
    with local_container() as container, container.db.read() as session:
        result = VerifyOut.of(verify_chain(session))
        problem = check_recorded_head(session, recorded) if recorded is not None else None
    if problem is not None:
        result.ok = False
        result.problems.append(
            ChainProblemOut(seq=problem.seq, kind=problem.kind, message=problem.message)
        )
    if as_json:
        emit_json(result.model_dump(mode="json"))
    elif result.ok:
        since = f"; event {recorded} recorded earlier is still in it" if recorded else ""
        out.print(
            f"audit chain intact: {result.checked} event(s); head {result.head_seq} "
            f"{result.head_hash}{since}"
        )
    else:
        err.print(f"[bold red]audit chain BROKEN[/] ({result.checked} event(s) checked):")
        for broken in result.problems:
            err.print(f"  event {broken.seq}: {broken.kind}: {escape(broken.message)}")
    raise typer.Exit(0 if result.ok else EXIT_CHECK_FAILED)


@audit.command("head")
def audit_head(as_json: bool = JSON) -> None:
    """Print the chain's current head as SEQ:HASH, to record outside this server; later,
    `lemur audit verify --expect-head SEQ:HASH` proves the log only grew since."""
    with local_container() as container, container.db.read() as session:
        head = current_head(session)
    if head is None:
        raise LemurError(
            "the audit_head row is missing; run `lemur audit verify` to see how to restore it",
            code="audit_head_missing",
        )
    seq, hash_ = head
    recorded = f"{seq}:{hash_}"
    if as_json:
        emit_json(
            {
                "seq": seq,
                "hash": hash_,
                "expect_head": recorded,
                "recorded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
        )
    else:
        out.print(recorded, highlight=False)
