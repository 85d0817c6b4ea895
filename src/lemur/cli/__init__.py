"""The ``lemur`` command.

Admin commands (init, serve, user, team, token, keys, audit, config) work on this server's
own database and configuration, as the operator at its console; they are recorded in the
audit log with the actor ``cli``.
"""

from __future__ import annotations

import sys

import typer

from lemur.cli import admin, authorities, certs, ops
from lemur.cli.output import EXIT_ERROR, exit_code_for, print_error
from lemur.errors import LemurError

app = typer.Typer(
    name="lemur",
    help="Lemur: issue, import, track, deploy and renew certificates.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
ops.register(app)
app.add_typer(admin.users, name="user")
app.add_typer(admin.teams, name="team")
app.add_typer(admin.tokens, name="token")
app.add_typer(ops.keys, name="keys")
app.add_typer(ops.audit, name="audit")
app.add_typer(ops.config, name="config")
app.add_typer(certs.cert, name="cert")
app.add_typer(authorities.authority, name="authority")


def main() -> None:
    as_json = "--json" in sys.argv
    try:
        result = app(standalone_mode=False)
    except LemurError as exc:
        print_error(exc, as_json=as_json)
        sys.exit(exit_code_for(exc))
    except typer.Abort:
        sys.exit(EXIT_ERROR)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:
        # Usage errors carry their own exit code (2). They are click's exceptions, or those
        # of the copy of click that newer typer releases bundle, so recognise them by shape.
        show = getattr(exc, "show", None)
        code = getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(code)
        raise
    sys.exit(result if isinstance(result, int) else 0)
