"""lemur backup | restore: consistent copies of a SQLite data directory (lemur.backup)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from lemur.backup import Manifest, create_backup, restore_backup
from lemur.cli.context import load_settings
from lemur.cli.output import emit_json, err, out
from lemur.clock import SystemClock

JSON = typer.Option(False, "--json", help="print JSON instead of text")


def _summary(manifest: Manifest) -> dict[str, object]:
    return {
        "lemur_version": manifest.lemur_version,
        "schema_revision": manifest.schema_revision,
        "audit_head": f"{manifest.audit_head_seq}:{manifest.audit_head_hash}",
        "keys": manifest.keys,
        "files": {name: d.sha256 for name, d in manifest.files.items()},
    }


def register(app: typer.Typer) -> None:
    @app.command()
    def backup(
        destination: Path = typer.Argument(..., help="a new or empty directory"),
        as_json: bool = JSON,
    ) -> None:
        """Write a consistent snapshot of the database, the key file and a manifest into
        DESTINATION, while the server keeps serving. On PostgreSQL, print the pg_dump
        command to use instead (exit 3)."""
        settings = load_settings()

        def show(step: str) -> None:
            if not as_json:
                err.print(f"[dim]…[/] {escape(step)}")

        manifest = create_backup(settings, destination, clock=SystemClock(), progress=show)
        if as_json:
            emit_json({"destination": str(destination.absolute()), **_summary(manifest)})
            return
        out.print(f"backup written to {escape(str(destination.absolute()))}")
        out.print(f"audit head {manifest.audit_head_seq}:{manifest.audit_head_hash}")
        if manifest.keys == "environment":
            out.print(
                "[yellow]note[/]: the keys come from LEMUR_ENCRYPTION_KEYS and are not in the "
                "backup; keep them with it"
            )

    @app.command()
    def restore(
        source: Path = typer.Argument(..., help="a directory written by `lemur backup`"),
        force: bool = typer.Option(
            False, "--force", help="replace an existing data directory (kept aside, renamed)"
        ),
        as_json: bool = JSON,
    ) -> None:
        """Check a backup (checksums, integrity, audit chain, keys) and make it the data
        directory. No server may be running on it."""
        settings = load_settings()

        def show(step: str) -> None:
            if not as_json:
                err.print(f"[dim]…[/] {escape(step)}")

        report = restore_backup(settings, source, force=force, clock=SystemClock(), progress=show)
        previous = str(report.previous) if report.previous else None
        if as_json:
            emit_json(
                {
                    "data_dir": str(report.data_dir),
                    "previous": previous,
                    **_summary(report.manifest),
                }
            )
            return
        out.print(f"restored {escape(str(source))} into {escape(str(report.data_dir))}")
        if previous:
            out.print(f"the previous data directory is kept at {escape(previous)}")
        out.print(
            f"audit head {report.manifest.audit_head_seq}:{report.manifest.audit_head_hash}; "
            "start the server with `lemur serve`"
        )
