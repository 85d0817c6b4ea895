"""lemur init | serve | keys | config: running and operating this server."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from lemur.audit.service import Actor
from lemur.backup import hold_data_dir
from lemur.bounds import MAX_PORT, MAX_WORKERS
from lemur.cli.context import load_settings, local_container
from lemur.cli.output import (
    col,
    emit_json,
    err,
    out,
    table,
)
from lemur.config import Settings
from lemur.container import InitReport
from lemur.crypto.keyring import generate_key
from lemur.keys.service import KeyRotation, count_pending
from lemur.logs import LOG_CONFIG_FILE, configure_logging

keys = typer.Typer(help="The encryption key ring.", no_args_is_help=True)
config = typer.Typer(help="Configuration.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="print JSON instead of text")
serve_log = logging.getLogger("lemur.serve")


def _init_data(report: InitReport, settings: Settings) -> dict[str, Any]:
    return {
        "data_dir": str(settings.data_dir),
        "database_url": settings.masked()["database_url"],
        "created_data_dir": report.created_data_dir,
        "created_key_file": report.created_key_file,
        "migrated": report.migrated,
        "admin_username": report.admin_username,
        "admin_password": report.admin_password,
        "created_authorities": report.created_authorities,
    }


def _print_init(report: InitReport, settings: Settings, *, as_json: bool) -> None:
    if as_json:
        emit_json(_init_data(report, settings))
        return
    if report.created_data_dir:
        out.print(f"created data directory {escape(str(settings.data_dir))}")
    if report.created_key_file:
        out.print(
            f"created encryption key file {escape(str(settings.key_file))} (mode 0600) — back it up: without it stored keys are lost"
        )
    if report.migrated:
        out.print("database schema is up to date")
    if report.created_authorities:
        out.print(
            "created certificate authorities "
            + " and ".join(report.created_authorities)
            + " (request certificates from local-issuing-ca)"
        )
    if report.admin_password:
        out.print(
            f"\n  admin account: [bold]{report.admin_username}[/]\n"
            f"  one-time password: [bold]{report.admin_password}[/]\n"
            "  (shown once; you will choose your own password at first login)\n"
        )
    for note in report.notes:
        err.print(f"[yellow]note[/]: {escape(note)}")


def register(app: typer.Typer) -> None:
    @app.command()
    def init(as_json: bool = JSON) -> None:
        """Create the data directory, database, key file and admin account if missing.

        Safe to run again: existing keys, secrets and accounts are never replaced."""
        report = InitReport()
        with local_container(init=True, report=report) as container:
            _print_init(report, container.settings, as_json=as_json)
            if not as_json and not (report.created_data_dir or report.admin_password):
                out.print(f"Lemur is initialised in {escape(str(container.settings.data_dir))}")

    @app.command()
    def serve(
        host: str | None = typer.Option(
            None, help="address to bind (default LEMUR_HOST or 127.0.0.1)"
        ),
        port: int | None = typer.Option(
            None, min=1, max=MAX_PORT, help="port (default LEMUR_PORT or 8000)"
        ),
        workers: int = typer.Option(1, min=1, max=MAX_WORKERS, help="uvicorn worker processes"),
        init_first: bool = typer.Option(
            True, "--init/--no-init", help="create what is missing before serving"
        ),
        jobs: bool | None = typer.Option(
            None,
            "--jobs/--no-jobs",
            help="run the embedded job runner and scheduler (default LEMUR_RUN_JOBS or on); "
            "--no-jobs serves HTTP only, for installations with `lemur worker`",
        ),
    ) -> None:
        """Serve the API and UI. The first run initialises everything and prints the admin password."""
        if jobs is not None:
            os.environ["LEMUR_RUN_JOBS"] = "true" if jobs else "false"
        if host is not None:
            os.environ["LEMUR_HOST"] = host
        if port is not None:
            os.environ["LEMUR_PORT"] = str(port)
        report = InitReport()
        json_logs = load_settings().log_format == "json"
        if json_logs:
            configure_logging("json")
        with local_container(init=init_first, report=report) as container:
            settings = container.settings
            if json_logs:
                # What init did, as one log line (with the one-time password, as the text
                # output shows it), so that every line of a JSON-logging server is JSON.
                serve_log.info("initialised", extra={"init": _init_data(report, settings)})
            else:
                _print_init(report, settings, as_json=False)
        # Held by this process and the uvicorn it becomes: `lemur restore` refuses to
        # replace the data directory while it is held.
        hold_data_dir(settings.data_dir)
        serving = f"Lemur serving on http://{settings.host}:{settings.port}/"
        if json_logs:
            serve_log.info(serving)
        else:
            out.print(f"{serving}  (Ctrl-C stops)")
            out.file.flush()
        # Replace this process by a fresh uvicorn: the supervisor of several workers then
        # holds none of the modules and data initialisation loaded (about 90 MiB), and the
        # process id stays the same for whoever started `lemur serve`.
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "lemur.asgi:create",
            "--factory",
            "--host",
            settings.host,
            "--port",
            str(settings.port),
            "--workers",
            str(workers),
            "--log-level",
            settings.log_level,
            "--no-proxy-headers",
        ]
        if json_logs:
            # JSON lines from uvicorn's supervisor too; lemur.access replaces its access log.
            argv += ["--log-config", str(LOG_CONFIG_FILE), "--no-access-log"]
        os.execv(sys.executable, argv)  # noqa: S606 (fixed argv, no shell)


@keys.command("generate")
def keys_generate() -> None:
    """Print a new Fernet key (for LEMUR_ENCRYPTION_KEYS)."""
    out.print(generate_key(), highlight=False)


@keys.command("status")
def keys_status(as_json: bool = JSON) -> None:
    """Show the key ring and how many secrets are not yet under its primary key."""
    with local_container() as container, container.db.read() as session:
        pending = count_pending(session, container.keyring)
        ring = container.keyring
    data = {
        "source": ring.source,
        "primary": ring.primary_kid,
        "keys": ring.kids,
        "pending": pending,
    }
    if as_json:
        emit_json(data)
        return
    out.print(f"key ring: {escape(ring.source)}")
    table(
        None,
        [col("key id", fixed=True), col("role", fixed=True)],
        [(k, "primary" if k == ring.primary_kid else "old") for k in ring.kids],
    )
    waiting = sum(pending.values())
    if waiting:
        table(
            "Secrets not yet under the primary key (run `lemur keys rotate`)",
            ["column", col("rows", fixed=True, right=True)],
            [(name, n) for name, n in pending.items() if n],
        )
    else:
        out.print("every stored secret is encrypted with the primary key")


@keys.command("rotate")
def keys_rotate(
    batch_size: int = typer.Option(500, min=1, max=10000, help="rows re-encrypted per transaction"),
    as_json: bool = JSON,
) -> None:
    """Add a new primary key and re-encrypt every stored secret in batches.

    The server keeps serving meanwhile. If interrupted, run it again: it resumes the
    unfinished rotation instead of adding another key."""
    with local_container() as container:
        rotation = KeyRotation(
            container.db, container.keyring, clock=container.clock, actor=Actor("cli")
        )
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            disable=as_json,
        ) as progress:
            tasks: dict[str, Any] = {}
            # The rotation sweeps every column twice (the second sweep catches secrets a
            # running server wrote under the old key meanwhile); the bar adds them up
            # instead of starting again at 0/0.
            earlier: dict[str, int] = {}
            shown: dict[str, int] = {}

            def on_progress(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = progress.add_task(f"re-encrypting {name}", total=total)
                    earlier[name] = shown[name] = 0
                elif done == 0:
                    earlier[name] = shown[name]
                shown[name] = earlier[name] + done
                progress.update(tasks[name], completed=shown[name], total=earlier[name] + total)

            report = rotation.rotate(batch_size=batch_size, progress=on_progress)
    data = {
        "primary": report.new_kid,
        "resumed": report.resumed,
        "reencrypted": report.reencrypted,
        "retired": report.retired,
    }
    if as_json:
        emit_json(data)
        return
    verb = "resumed rotation to" if report.resumed else "new primary key"
    out.print(
        f"{verb} [bold]{report.new_kid}[/]; re-encrypted {sum(report.reencrypted.values())} secret(s)"
    )
    if report.retired:
        out.print(f"no data needs key(s) {', '.join(report.retired)} any more")


@config.command("show")
def config_show(as_json: bool = JSON) -> None:
    """Print the effective configuration, secrets masked."""
    settings = load_settings()
    values = settings.masked()
    if as_json:
        emit_json(values)
        return
    # Say where an unset secret comes from instead of showing an empty cell.
    defaults = {
        "encryption_keys": f"(not set: the key file {settings.key_file})",
        "session_secret": "(not set: kept encrypted in the database)",
    }
    table(
        "Effective configuration",
        [col("setting", fixed=True), "value"],
        [
            (
                f"LEMUR_{k.upper()}",
                str(v) if v not in (None, "") else Text(defaults.get(k, "(not set)"), style="dim"),
            )
            for k, v in values.items()
        ],
    )
