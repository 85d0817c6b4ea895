"""lemur destination: where certificates are deployed (a directory, an SFTP server, an AWS
account): list, show, create with the plugin's --option values, update, delete, check the
connection, add and remove endpoints; through the API (LEMUR_URL, LEMUR_TOKEN)."""

from __future__ import annotations

import typer
from rich.markup import escape

from lemur.cli.client import JSON, TOKEN, URL, LemurClient, connect
from lemur.cli.display import fields, section, utc
from lemur.cli.output import EXIT_CHECK_FAILED, UsageError, col, emit, err, out, table, when
from lemur.cli.plugin_options import option_flag, parse_options, plugin, prompt_missing
from lemur.deployments.schemas import CheckOut, DestinationOut, EndpointOut
from lemur.ids import MAX_ID

destination = typer.Typer(
    help="Destinations: where certificates are deployed (through the API: LEMUR_URL, LEMUR_TOKEN).",
    no_args_is_help=True,
)

API = "/api/v1/destinations"
ENDPOINT_HELP = (
    "an endpoint: HOST:PORT or HOST:PORT/SNI-NAME (a TLS server checked after each "
    "deployment), or listener=ARN / listener=elb:NAME:PORT (a load balancer listener the "
    "plugin switches); repeatable"
)


def parse_endpoint(value: str) -> dict[str, object]:
    """``--endpoint`` as the API's EndpointIn. Raises UsageError naming the value."""
    text = value.strip()
    if text.startswith("listener="):
        return {"kind": "listener", "listener": text.removeprefix("listener=")}
    where, _, sni = text.partition("/")
    host, sep, port = where.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UsageError(
            f"--endpoint takes HOST:PORT[/SNI] or listener=NAME, not {value[:60]!r} "
            "(for example 127.0.0.1:443/www.example.com)"
        )
    return {"kind": "tls", "host": host.strip("[]"), "port": int(port), "sni": sni}


def pick(client: LemurClient, value: str, option: str = "destination") -> DestinationOut:
    rows = client.get(API, list[DestinationOut])
    return client.pick(rows, value, what="destination", option=option)


def print_destination(d: DestinationOut) -> None:
    fields(
        [
            ("id", str(d.id)),
            ("name", d.name),
            ("plugin", d.plugin),
            ("team", d.team_name or "any team"),
            ("description", d.description or ""),
            ("certificates", str(d.certificates)),
            ("created", f"{utc(d.created_at)} by {d.created_by}"),
        ]
    )
    secrets = d.options.get("secrets_set") or []
    shown = {k: v for k, v in d.options.items() if k != "secrets_set" and v not in (None, "", [])}
    section("options")
    for name, value in sorted(shown.items()):
        out.print(f"  {name}: {escape(str(value))}")
    for name in secrets:
        out.print(f"  {name}: (secret, set)")
    section("endpoints")
    print_endpoints(d.endpoints)


def print_endpoints(endpoints: list[EndpointOut]) -> None:
    if not endpoints:
        out.print("  none")
        return
    table(
        "",
        [
            col("id", fixed=True, right=True),
            col("endpoint", min_width=20),
            col("last seen (SHA-256)"),
            col("when"),
            col("error"),
        ],
        [
            (
                e.id,
                e.label,
                (e.last_fingerprint or "")[:16],
                when(e.last_seen_at) if e.last_seen_at else "",
                e.last_error or "",
            )
            for e in endpoints
        ],
    )


@destination.command("list")
def list_destinations(
    url: str | None = URL, token: str | None = TOKEN, as_json: bool = JSON
) -> None:
    """Every destination (secrets are never shown)."""
    with connect(url, token) as client:
        rows = client.get(API, list[DestinationOut])

    def show(items: list[DestinationOut]) -> None:
        table(
            "Destinations",
            [
                col("id", fixed=True, right=True),
                col("name"),
                col("plugin"),
                col("team"),
                col("endpoints", right=True),
                col("certificates", right=True),
            ],
            [
                (d.id, d.name, d.plugin, d.team_name or "any", len(d.endpoints), d.certificates)
                for d in items
            ],
        )

    emit(rows, as_json, show)


@destination.command("show")
def show_destination(
    name: str = typer.Argument(..., help="name or id"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """A destination: its public options and endpoints with what was last seen there."""
    with connect(url, token) as client:
        d = pick(client, name)
    emit(d, as_json, print_destination)


@destination.command("create")
def create_destination(
    name: str = typer.Argument(..., help="short name, e.g. web-1"),
    plugin_slug: str = typer.Option(
        ..., "--plugin", help="directory, sftp, aws-iam or aws-acm (GET /api/v1/plugins)"
    ),
    option: list[str] | None = option_flag(),
    endpoint: list[str] | None = typer.Option(None, "--endpoint", help=ENDPOINT_HELP),
    team: str | None = typer.Option(
        None, "--team", help="only this team's certificates may go there (default: any team)"
    ),
    description: str = typer.Option("", "--description"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Create a destination. Lemur connects with the options first ("check connection"):
    options that do not work are refused, naming the option, and nothing is created."""
    endpoints = [parse_endpoint(e) for e in endpoint or []]
    with connect(url, token) as client:
        found = plugin(client, "destination", plugin_slug)
        options = prompt_missing(found, parse_options(option, found.options_schema))
        body = {
            "name": name,
            "plugin": plugin_slug,
            "options": options,
            "description": description,
            "team_id": client.team(team).id if team else None,
            "endpoints": endpoints,
        }
        d = client.post(API, body, DestinationOut)
    emit(d, as_json, print_destination, note=f"destination {d.name} created")


@destination.command("update")
def update_destination(
    name: str = typer.Argument(..., help="name or id"),
    option: list[str] | None = option_flag(),
    new_name: str | None = typer.Option(None, "--name", help="a new name"),
    description: str | None = typer.Option(None, "--description"),
    team: str | None = typer.Option(None, "--team", help="reserve it for this team"),
    any_team: bool = typer.Option(False, "--any-team", help="open it to every team"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Change options (merged: secrets not given keep their values), name, description or
    team. New options are checked by connecting before they are stored."""
    with connect(url, token) as client:
        d = pick(client, name)
        found = plugin(client, "destination", d.plugin)
        body: dict[str, object] = {"any_team": any_team}
        if option:
            body["options"] = parse_options(option, found.options_schema)
        if new_name is not None:
            body["name"] = new_name
        if description is not None:
            body["description"] = description
        if team is not None:
            body["team_id"] = client.team(team).id
        d = client.patch(f"{API}/{d.id}", body, DestinationOut)
    emit(d, as_json, print_destination, note=f"destination {d.name} updated")


@destination.command("delete")
def delete_destination(
    name: str = typer.Argument(..., help="name or id"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Delete a destination no certificate uses any more."""
    with connect(url, token) as client:
        d = pick(client, name)
        client.request("DELETE", f"{API}/{d.id}")
    emit({"deleted": d.id}, as_json, lambda _: out.print(f"destination {d.name} deleted"))


@destination.command("check")
def check_destination(
    name: str = typer.Argument(..., help="name or id"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Check the connection with the stored options: exit 0 when it works, 4 when not."""
    with connect(url, token) as client:
        d = pick(client, name)
        result = client.post(f"{API}/{d.id}/check", None, CheckOut)

    def show(r: CheckOut) -> None:
        if r.ok:
            out.print(f"[green]ok[/]: {escape(r.summary)}")
        else:
            err.print(
                f"[bold red]failed[/]: {escape(r.error or '')}"
                + (f" ({r.field})" if r.field else "")
            )

    emit(result, as_json, show)
    if not result.ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


@destination.command("add-endpoint")
def add_endpoint(
    name: str = typer.Argument(..., help="name or id"),
    endpoint: str = typer.Argument(..., help=ENDPOINT_HELP.removesuffix("; repeatable")),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Add an endpoint: checked after every deployment to this destination."""
    spec = parse_endpoint(endpoint)
    with connect(url, token) as client:
        d = pick(client, name)
        d = client.post(f"{API}/{d.id}/endpoints", spec, DestinationOut)
    emit(d, as_json, print_destination, note="endpoint added")


@destination.command("remove-endpoint")
def remove_endpoint(
    name: str = typer.Argument(..., help="name or id"),
    endpoint_id: int = typer.Argument(
        ..., min=1, max=MAX_ID, help="the endpoint's id (see `show`)"
    ),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Remove an endpoint."""
    with connect(url, token) as client:
        d = pick(client, name)
        response = client.request("DELETE", f"{API}/{d.id}/endpoints/{endpoint_id}")
        d = client.parse(response, DestinationOut)
    emit(d, as_json, print_destination, note="endpoint removed")
