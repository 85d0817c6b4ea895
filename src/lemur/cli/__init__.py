"""The ``lemur`` command.

Admin commands (init, serve, user, team, token, keys, audit, config) work on this server's
own database and configuration, as the operator at its console; they are recorded in the
audit log with the actor ``cli``.
"""

from __future__ import annotations

import importlib
import sys

import typer

from lemur.cli.output import EXIT_ERROR, Cancelled, UsageError, exit_code_for, print_error
from lemur.errors import InvalidInput, LemurError

# command group -> (module, attribute). The developer commands (cert, authority) only talk
# HTTP, so they are loaded without the container, engines and migrations. They do load the
# API's output schemas to parse answers, and those still import the ORM models (about 0.9 s
# of CPU at start-up, until the schemas stop depending on the models).
GROUPS = {
    "user": ("lemur.cli.admin", "users"),
    "team": ("lemur.cli.admin", "teams"),
    "token": ("lemur.cli.admin", "tokens"),
    "keys": ("lemur.cli.ops", "keys"),
    "audit": ("lemur.cli.audit", "audit"),
    "config": ("lemur.cli.ops", "config"),
    "cert": ("lemur.cli.certs", "cert"),
    "authority": ("lemur.cli.authorities", "authority"),
    "request": ("lemur.cli.requests", "requests"),
    "destination": ("lemur.cli.destinations", "destination"),
    "jobs": ("lemur.cli.jobs", "jobs"),
    "notifications": ("lemur.cli.notifications", "notifications"),
}


def build_app(argv: list[str]) -> typer.Typer:
    """The command tree; when the first argument names a group, only that group is loaded."""
    app = typer.Typer(
        name="lemur",
        help="Lemur: issue, import, track, deploy and renew certificates.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    first = argv[1] if len(argv) > 1 else None
    wanted = [first] if first in GROUPS else list(GROUPS)
    for name in wanted:
        module, attribute = GROUPS[name]
        app.add_typer(getattr(importlib.import_module(module), attribute), name=name)
    if first not in GROUPS:
        importlib.import_module("lemur.cli.ops").register(app)
        importlib.import_module("lemur.cli.backup").register(app)
        importlib.import_module("lemur.cli.jobs_runners").register(app)
    return app


def usage_error(exc: Exception) -> LemurError:
    """A command-line parsing error as a LemurError: a bad value for a number is invalid
    input (exit 3) naming the option and its range; anything else (unknown option, missing
    argument, a choice that is not one) is a usage error (exit 2)."""
    message = getattr(exc, "format_message", lambda: str(exc))()
    param = getattr(exc, "param", None)
    descriptor = getattr(param, "type_descriptor", None)
    if param is not None and getattr(descriptor, "annotation", None) is int:
        opts = getattr(param, "opts", None) or []
        if opts and opts[0].startswith("-"):
            hint = opts[0]
        else:
            hint = str(getattr(param, "metavar", None) or str(param.name).upper())
        low, high = getattr(param, "min", None), getattr(param, "max", None)
        span = f" from {low} to {high}" if low is not None and high is not None else ""
        return InvalidInput(
            f"{hint} must be a whole number{span}", code="out_of_range", field=param.name
        )
    return UsageError(message, field=getattr(param, "name", None))


def _database_fault(exc: Exception) -> LemurError | None:
    """A database that cannot be reached, read or written, as one line saying what, where
    and what to do (exit 8), instead of a traceback."""
    if not type(exc).__module__.startswith(("sqlalchemy", "sqlite3", "psycopg")):
        return None  # and the developer commands never load the database modules
    from lemur.errors import DatabaseUnavailable, StorageFull
    from lemur.faults import CORRUPT, database_fault, describe

    fault = database_fault(exc)
    if fault is None:
        return None
    try:
        from lemur.cli.context import load_settings

        where = f"the database {load_settings().masked()['database_url']}"
    except LemurError:
        where = "the database"
    if isinstance(fault, StorageFull):
        advice = "free space on the disk it is on, then run the command again"
    elif fault.message == CORRUPT:
        advice = (
            "it is damaged or not a Lemur database: restore it from a backup (`lemur restore`) "
            "or point LEMUR_DATABASE_URL at the right database"
        )
    else:
        advice = (
            "check that it is running and reachable and that LEMUR_DATABASE_URL is right, "
            "then run the command again"
        )
    return DatabaseUnavailable(f"cannot use {where} ({describe(exc)}): {advice}", code=fault.code)


def main() -> None:
    as_json = "--json" in sys.argv
    try:
        result = build_app(sys.argv)(standalone_mode=False)
    except LemurError as exc:
        print_error(exc, as_json=as_json)
        sys.exit(exit_code_for(exc))
    except typer.Abort:
        print_error(Cancelled("interrupted: nothing was changed"), as_json=as_json)
        sys.exit(EXIT_ERROR)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:
        # A file the user named could not be read or written.
        where = f" {exc.filename}" if exc.filename else ""
        error = LemurError(f"cannot use{where}: {exc.strerror or exc}", code="os_error")
        print_error(error, as_json=as_json)
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        # Usage errors carry their own exit code (2). They are click's exceptions, or those
        # of the copy of click that newer typer releases bundle, so recognise them by shape.
        show = getattr(exc, "show", None)
        code = getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            error = usage_error(exc)
            if as_json or not isinstance(error, UsageError):
                print_error(error, as_json=as_json)
                sys.exit(exit_code_for(error))
            show()
            sys.exit(code)
        fault = _database_fault(exc)
        if fault is None:
            raise
        print_error(fault, as_json=as_json)
        sys.exit(exit_code_for(fault))
    sys.exit(result if isinstance(result, int) else 0)
