"""lemur user | team | token: account administration on this server's database."""

from __future__ import annotations

import dataclasses
import sys

import typer
from rich.markup import escape

from lemur.accounts.models import Role, TokenScope
from lemur.accounts.schemas import TeamOut, TokenOut, UserOut
from lemur.accounts.service import load_principal
from lemur.authz import Principal, cli_principal
from lemur.bounds import MAX_TOKEN_LIFETIME_DAYS
from lemur.cli.context import local_container
from lemur.cli.options import ranged, record_id
from lemur.cli.output import col, emit_json, out, table, time_col, when
from lemur.container import Container
from lemur.services import Services

users = typer.Typer(help="Create, list, disable users; reset passwords.", no_args_is_help=True)
teams = typer.Typer(help="Create teams and manage their members.", no_args_is_help=True)
tokens = typer.Typer(help="API tokens for a user.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="print JSON instead of a table")


def _services(container: Container) -> Services:
    """The service factory for an administrator at the command line."""
    return Services(container, cli_principal())


@users.command("create")
def user_create(
    username: str,
    role: Role = typer.Option(Role.MEMBER, help="admin, security, member or read-only"),
    display_name: str = typer.Option("", help="full name shown in the UI"),
    email: str | None = typer.Option(None),
    password_stdin: bool = typer.Option(
        False,
        help="read the password from standard input instead of generating a one-time password",
    ),
    as_json: bool = JSON,
) -> None:
    """Create a user. Prints a one-time password unless --password-stdin is given."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    with local_container() as container, _services(container) as services:
        user, generated = services.accounts().create_user(
            username, role=role, password=password, display_name=display_name, email=email
        )
        data = UserOut.of(user).model_dump(mode="json")
    if as_json:
        emit_json({**data, "one_time_password": generated})
        return
    out.print(f"created user [bold]{escape(username)}[/] ({role.value})")
    if generated:
        out.print(
            f"one-time password: [bold]{generated}[/]  (shown once; they choose their own at first login)"
        )


@users.command("list")
def user_list(as_json: bool = JSON) -> None:
    """List users with their role, state and teams."""
    with local_container() as container, _services(container) as services:
        rows = [UserOut.of(u) for u in services.accounts().list_users()]
    if as_json:
        emit_json([r.model_dump(mode="json") for r in rows])
        return
    table(
        "Users",
        [
            "username",
            col("role", fixed=True),
            col("state", fixed=True),
            "teams",
            time_col("created (UTC)"),
        ],
        [
            (
                u.username,
                u.role.value,
                "disabled" if u.disabled else "active",
                ", ".join(t.name for t in u.teams),
                when(u.created_at),
            )
            for u in rows
        ],
    )


@users.command("disable")
def user_disable(
    username: str,
    enable: bool = typer.Option(False, "--enable", help="re-enable instead"),
    as_json: bool = JSON,
) -> None:
    """Disable a user: their sessions end and their tokens stop working at once."""
    with local_container() as container, _services(container) as services:
        service = services.accounts()
        user = service.set_disabled(service.find_user(username), not enable)
        data = UserOut.of(user).model_dump(mode="json")
    if as_json:
        emit_json(data)
    else:
        out.print(f"{'enabled' if enable else 'disabled'} user [bold]{escape(username)}[/]")


@users.command("reset-password")
def user_reset_password(username: str, as_json: bool = JSON) -> None:
    """Replace a user's password with a one-time password, printed once."""
    with local_container() as container, _services(container) as services:
        service = services.accounts()
        password = service.reset_password(service.find_user(username))
    if as_json:
        emit_json({"username": username, "one_time_password": password})
    else:
        out.print(f"one-time password for [bold]{escape(username)}[/]: [bold]{password}[/]")


@teams.command("create")
def team_create(name: str, description: str = typer.Option(""), as_json: bool = JSON) -> None:
    """Create a team."""
    with local_container() as container, _services(container) as services:
        team = services.accounts().create_team(name, description=description)
        data = {"id": team.id, "name": team.name, "description": team.description}
    if as_json:
        emit_json(data)
    else:
        out.print(f"created team [bold]{escape(name)}[/]")


@teams.command("add-member")
def team_add_member(team: str, username: str, as_json: bool = JSON) -> None:
    """Add a user to a team."""
    with local_container() as container, _services(container) as services:
        service = services.accounts()
        service.add_member(service.find_team(team), service.find_user(username))
    if as_json:
        emit_json({"team": team, "username": username, "member": True})
    else:
        out.print(f"added [bold]{escape(username)}[/] to [bold]{escape(team)}[/]")


@teams.command("remove-member")
def team_remove_member(team: str, username: str, as_json: bool = JSON) -> None:
    """Remove a user from a team."""
    with local_container() as container, _services(container) as services:
        service = services.accounts()
        service.remove_member(service.find_team(team), service.find_user(username))
    if as_json:
        emit_json({"team": team, "username": username, "member": False})
    else:
        out.print(f"removed [bold]{escape(username)}[/] from [bold]{escape(team)}[/]")


@teams.command("list")
def team_list(as_json: bool = JSON) -> None:
    """List teams and their members."""
    with local_container() as container, _services(container) as services:
        rows = [TeamOut.of(t) for t in services.accounts().list_teams()]
    if as_json:
        emit_json([r.model_dump(mode="json") for r in rows])
        return
    table(
        "Teams",
        ["name", "members", "description"],
        [(t.name, ", ".join(m.username for m in t.members), t.description) for t in rows],
    )


def _acting_for(services: Services, username: str) -> Principal:
    user = services.accounts().find_user(username, field="user")
    principal = load_principal(services.uow.read, user, via="cli")
    return dataclasses.replace(principal, acting_as="cli")


@tokens.command("create")
def token_create(
    user: str = typer.Option(..., "--user", help="the user the token acts as"),
    name: str = typer.Option(..., "--name", help="what the token is for, e.g. 'ci-deploy'"),
    scope: TokenScope = typer.Option(TokenScope.READ, help="read, or write to also change things"),
    days: int = ranged(90, "--days", within=(1, MAX_TOKEN_LIFETIME_DAYS), help="lifetime in days"),
    as_json: bool = JSON,
) -> None:
    """Create an API token. The token is printed once; store it in your secret manager."""
    with local_container() as container, _services(container) as services:
        principal = _acting_for(services, user)
        token, plaintext = services.tokens().create(
            principal, name=name, scope=scope, expires_in_days=days
        )
        data = TokenOut.of(token).model_dump(mode="json")
    if as_json:
        emit_json({**data, "token": plaintext})
    else:
        out.print(
            f"token [bold]{escape(name)}[/] for {escape(user)} ({scope.value}, expires {data['expires_at'][:10]}):"
        )
        out.print(plaintext, highlight=False, soft_wrap=True)


@tokens.command("list")
def token_list(user: str = typer.Option(..., "--user"), as_json: bool = JSON) -> None:
    """List a user's tokens (never the secrets)."""
    with local_container() as container, _services(container) as services:
        principal = _acting_for(services, user)
        assert principal.user_id is not None
        rows = [TokenOut.of(t) for t in services.tokens().list_for(principal.user_id)]
    if as_json:
        emit_json([r.model_dump(mode="json") for r in rows])
        return
    now = container.clock.now()
    table(
        f"Tokens of {user}",
        [
            col("id", fixed=True, right=True),
            "name",
            col("scope", fixed=True),
            col("state", fixed=True),
            time_col("expires (UTC)"),
            time_col("last used (UTC)"),
        ],
        [
            (
                t.id,
                t.name,
                t.scope.value,
                "revoked" if t.revoked_at else ("expired" if t.expires_at <= now else "active"),
                when(t.expires_at),
                when(t.last_used_at),
            )
            for t in rows
        ],
    )


@tokens.command("revoke")
def token_revoke(
    token_id: int = record_id("token"),
    user: str = typer.Option(..., "--user"),
    as_json: bool = JSON,
) -> None:
    """Revoke a token at once."""
    with local_container() as container, _services(container) as services:
        principal = _acting_for(services, user)
        token = services.tokens().revoke(principal, token_id)
        data = TokenOut.of(token).model_dump(mode="json")
    if as_json:
        emit_json(data)
    else:
        out.print(f"revoked token {token_id} ([bold]{escape(data['name'])}[/])")
