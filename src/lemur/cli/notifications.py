"""lemur notifications channels | rules | messages, through the API of a running Lemur
(LEMUR_URL, LEMUR_TOKEN), and ``lemur cert mute`` / ``unmute``.

Channel options come from ``--option key=value`` (repeatable; the plugin's model turns
"587" into a number and "true" into a boolean), ``--options-file file.json``, or both (the
options given on the command line win). A secret is best given with ``--secret NAME``: its
value is read without echo from the terminal, or as one line from standard input, so it is
never in argv or the shell's history.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from lemur.cli.client import JSON, TOKEN, URL, LemurClient, connect
from lemur.cli.display import fields, read_passphrase
from lemur.cli.options import record_id
from lemur.cli.output import UsageError, col, emit, more, table, time_col, when
from lemur.errors import InvalidInput
from lemur.ids import MAX_ID
from lemur.notifications.events import Event
from lemur.notifications.schemas import (
    ChannelOut,
    ChannelTestOut,
    MessagePageOut,
    MuteOut,
    RuleOut,
)

API = "/api/v1/notifications"

notifications = typer.Typer(help="Notification channels, rules and messages.", no_args_is_help=True)
channels = typer.Typer(help="Where notices go: email, ses, slack, webhook.", no_args_is_help=True)
rules = typer.Typer(help="Which events go to which channel and whom.", no_args_is_help=True)
messages = typer.Typer(help="Messages sent, pending and failed.", no_args_is_help=True)
notifications.add_typer(channels, name="channels")
notifications.add_typer(rules, name="rules")
notifications.add_typer(messages, name="messages")

OPTION = typer.Option([], "--option", "-o", help="KEY=VALUE, repeatable")
OPTIONS_FILE = typer.Option(
    None, "--options-file", exists=True, dir_okay=False, readable=True, help="a JSON object"
)
SECRET = typer.Option(
    [], "--secret", help="an option to read without echo (terminal) or from stdin; repeatable"
)


def _options(pairs: list[str], file: Path | None, secrets: list[str]) -> dict[str, Any] | None:
    if not pairs and file is None and not secrets:
        return None
    options: dict[str, Any] = {}
    if file is not None:
        try:
            loaded = json.loads(file.read_text())
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"{file} is not JSON: {exc.msg} (line {exc.lineno})",
                code="invalid_options_file",
                field="options_file",
            ) from None
        if not isinstance(loaded, dict):
            raise InvalidInput(
                f"{file} must hold a JSON object", code="invalid_options_file", field="options_file"
            )
        options.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--option takes KEY=VALUE, got '{pair}'", field="option")
        options[key.strip()] = value
    for name in secrets:
        options[name] = read_passphrase(f"{name}: ")
    return options


def _show_channel(c: ChannelOut) -> None:
    opts = {k: v for k, v in c.options.items() if k != "secrets_set"}
    fields(
        [
            ("id", c.id),
            ("name", c.name),
            ("plugin", c.plugin),
            ("enabled", "yes" if c.enabled else "no"),
            *((f"options.{k}", json.dumps(v)) for k, v in opts.items() if v is not None),
            ("secrets set", c.options.get("secrets_set") or []),
            ("created", f"{when(c.created_at)} UTC by {c.created_by}"),
        ]
    )


def _channels_table(items: list[ChannelOut]) -> None:
    table(
        "Channels",
        [col("id", fixed=True, right=True), "name", col("plugin", fixed=True), "enabled"],
        [(c.id, c.name, c.plugin, "yes" if c.enabled else "no") for c in items],
    )


def _request(client: LemurClient, method: str, path: str, body: Any, shape: Any) -> Any:
    return client.parse(client.request(method, path, body=body), shape)


@channels.command("list")
def channels_list(url: str | None = URL, token: str | None = TOKEN, as_json: bool = JSON) -> None:
    """List channels (secrets are never shown)."""
    with connect(url, token) as client:
        items = client.get(f"{API}/channels", list[ChannelOut])
    emit(items, as_json, _channels_table)


@channels.command("create")
def channels_create(
    name: str = typer.Argument(..., help="lowercase letters, digits, '.', '_', '-'"),
    plugin: str = typer.Option(..., "--plugin", help="email, ses, slack or webhook"),
    option: list[str] = OPTION,
    options_file: Path | None = OPTIONS_FILE,
    secret: list[str] = SECRET,
    disabled: bool = typer.Option(False, "--disabled", help="create it disabled"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Create a channel."""
    options = _options(option, options_file, secret) or {}
    body = {"name": name, "plugin": plugin, "options": options, "enabled": not disabled}
    with connect(url, token) as client:
        item = client.post(f"{API}/channels", body, ChannelOut)
    emit(
        item,
        as_json,
        _show_channel,
        note=f"created channel [bold]{item.id}[/] ({escape(item.name)})",
    )


@channels.command("show")
def channels_show(
    channel_id: int = record_id("channel"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Show a channel."""
    with connect(url, token) as client:
        item = client.get(f"{API}/channels/{channel_id}", ChannelOut)
    emit(item, as_json, _show_channel)


@channels.command("update")
def channels_update(
    channel_id: int = record_id("channel"),
    name: str | None = typer.Option(None, "--name"),
    option: list[str] = OPTION,
    options_file: Path | None = OPTIONS_FILE,
    secret: list[str] = SECRET,
    enable: bool | None = typer.Option(None, "--enable/--disable"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Change a channel; options not given (secrets included) keep their values."""
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    options = _options(option, options_file, secret)
    if options is not None:
        body["options"] = options
    if enable is not None:
        body["enabled"] = enable
    with connect(url, token) as client:
        item = _request(client, "PATCH", f"{API}/channels/{channel_id}", body, ChannelOut)
    emit(item, as_json, _show_channel, note=f"updated channel [bold]{item.id}[/]")


@channels.command("delete")
def channels_delete(
    channel_id: int = record_id("channel"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Delete a channel (refused while a rule uses it)."""
    with connect(url, token) as client:
        client.request("DELETE", f"{API}/channels/{channel_id}")
    emit({"deleted": channel_id}, as_json, note=f"deleted channel {channel_id}")


@channels.command("test")
def channels_test(
    channel_id: int = record_id("channel"),
    to: list[str] = typer.Option([], "--to", help="a recipient address (email, ses); repeatable"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Send a test message now and say what happened (exit 1 if it was not delivered)."""
    with connect(url, token) as client:
        result = client.post(
            f"{API}/channels/{channel_id}/test", {"recipients": to}, ChannelTestOut
        )
    if result.delivered:
        note = f"delivered (Message-ID {escape(result.message_id)})"
    else:
        note = f"[bold red]not delivered[/]: {escape(result.error or '')} ({result.error_code})"
    emit(result, as_json, note=note)
    raise typer.Exit(0 if result.delivered else 1)


# -- rules ------------------------------------------------------------------------------------


def _show_rule(r: RuleOut) -> None:
    who = [
        *(["the owning team"] if r.recipients.owners else []),
        *(["the security team"] if r.recipients.security_team else []),
        *r.recipients.addresses,
    ]
    fields(
        [
            ("id", r.id),
            ("name", r.name),
            ("channel", f"{r.channel_name} ({r.channel_id})"),
            ("events", r.events),
            ("thresholds", [f"{d} days" for d in r.thresholds] if "expiring" in r.events else []),
            ("recipients", who),
            ("team", r.team_id),
            ("enabled", "yes" if r.enabled else "no"),
        ]
    )


def _rules_table(items: list[RuleOut]) -> None:
    table(
        "Rules",
        [col("id", fixed=True, right=True), "name", "channel", "events", "enabled"],
        [
            (r.id, r.name, r.channel_name, ", ".join(r.events), "yes" if r.enabled else "no")
            for r in items
        ],
    )


def _rule_body(
    name: str | None,
    channel: int | None,
    events: list[Event],
    thresholds: str | None,
    owners: bool | None,
    security: bool | None,
    addresses: list[str],
    team: int | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if channel is not None:
        body["channel_id"] = channel
    if events:
        body["events"] = [e.value for e in events]
    if thresholds is not None:
        try:
            body["thresholds"] = [int(t) for t in thresholds.split(",") if t.strip()]
        except ValueError:
            raise InvalidInput(
                "--thresholds takes days separated by commas, e.g. 30,14,7",
                code="invalid_thresholds",
                field="thresholds",
            ) from None
    if owners is not None or security is not None or addresses:
        body["recipients"] = {
            "owners": True if owners is None else owners,
            "security_team": bool(security),
            "addresses": addresses,
        }
    if team is not None:
        body["team_id"] = team
    return body


EVENTS = typer.Option([], "--event", "-e", help="an event; repeatable")
THRESHOLDS = typer.Option(None, "--thresholds", help="days for 'expiring', e.g. 30,14,7,3,1")
OWNERS = typer.Option(None, "--owners/--no-owners", help="the owning team's members")
SECURITY = typer.Option(None, "--security-team/--no-security-team")
ADDRESS = typer.Option([], "--address", help="a fixed address; repeatable")
TEAM = typer.Option(None, "--team-id", min=1, max=MAX_ID, help="only certificates of this team")


@rules.command("list")
def rules_list(url: str | None = URL, token: str | None = TOKEN, as_json: bool = JSON) -> None:
    """List rules."""
    with connect(url, token) as client:
        items = client.get(f"{API}/rules", list[RuleOut])
    emit(items, as_json, _rules_table)


@rules.command("create")
def rules_create(
    name: str = typer.Argument(...),
    channel: int = typer.Option(..., "--channel", min=1, max=MAX_ID, help="the channel's id"),
    event: list[Event] = EVENTS,
    thresholds: str | None = THRESHOLDS,
    owners: bool | None = OWNERS,
    security_team: bool | None = SECURITY,
    address: list[str] = ADDRESS,
    team_id: int | None = TEAM,
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Create a rule (default: event expiring, thresholds 30,14,7,3,1, the owners)."""
    body = _rule_body(
        name,
        channel,
        event or [Event.EXPIRING],
        thresholds,
        owners,
        security_team,
        address,
        team_id,
    )
    with connect(url, token) as client:
        item = client.post(f"{API}/rules", body, RuleOut)
    emit(item, as_json, _show_rule, note=f"created rule [bold]{item.id}[/] ({escape(item.name)})")


@rules.command("show")
def rules_show(
    rule_id: int = record_id("rule"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Show a rule."""
    with connect(url, token) as client:
        item = client.get(f"{API}/rules/{rule_id}", RuleOut)
    emit(item, as_json, _show_rule)


@rules.command("update")
def rules_update(
    rule_id: int = record_id("rule"),
    name: str | None = typer.Option(None, "--name"),
    channel: int | None = typer.Option(None, "--channel", min=1, max=MAX_ID),
    event: list[Event] = EVENTS,
    thresholds: str | None = THRESHOLDS,
    owners: bool | None = OWNERS,
    security_team: bool | None = SECURITY,
    address: list[str] = ADDRESS,
    team_id: int | None = TEAM,
    enable: bool | None = typer.Option(None, "--enable/--disable"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Change a rule; what is not given is kept (recipients are given as a whole)."""
    body = _rule_body(name, channel, event, thresholds, owners, security_team, address, team_id)
    if enable is not None:
        body["enabled"] = enable
    with connect(url, token) as client:
        item = _request(client, "PATCH", f"{API}/rules/{rule_id}", body, RuleOut)
    emit(item, as_json, _show_rule, note=f"updated rule [bold]{item.id}[/]")


@rules.command("delete")
def rules_delete(
    rule_id: int = record_id("rule"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Delete a rule."""
    with connect(url, token) as client:
        client.request("DELETE", f"{API}/rules/{rule_id}")
    emit({"deleted": rule_id}, as_json, note=f"deleted rule {rule_id}")


def _messages_table(page: MessagePageOut) -> None:
    table(
        "Messages",
        [
            col("id", fixed=True, right=True),
            time_col("created (UTC)"),
            "channel",
            "recipient",
            col("state", fixed=True),
            col("tries", fixed=True, right=True),
            "subject",
            "last error",
        ],
        [
            (
                m.id,
                when(m.created_at),
                m.channel_name,
                m.recipient,
                m.state.value,
                m.attempts,
                m.subject,
                m.last_error,
            )
            for m in page.items
        ],
        drop_empty=["last error"],
    )
    more(page.next_cursor)


@messages.command("list")
def messages_list(
    state: str | None = typer.Option(None, "--state", help="pending, sent or failed"),
    channel: int | None = typer.Option(None, "--channel", min=1, max=MAX_ID, help="a channel's id"),
    limit: int = typer.Option(50, min=1, max=500),
    cursor: str | None = typer.Option(None, help="next_cursor from the previous page"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Messages, newest first; failures with their reason."""
    with connect(url, token) as client:
        page = client.get(
            f"{API}/messages",
            MessagePageOut,
            state=state,
            channel_id=channel,
            limit=limit,
            cursor=cursor,
        )
    emit(page, as_json, _messages_table)


# -- lemur cert mute | unmute -----------------------------------------------------------------


def mute(
    certificate_id: int = record_id(),
    reason: str = typer.Option("", "--reason", help="why (shown in the list of mutes)"),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Send no notices about a certificate (any event) until it is unmuted."""
    with connect(url, token) as client:
        item = _request(
            client,
            "PUT",
            f"/api/v1/certificates/{certificate_id}/mute",
            {"reason": reason},
            MuteOut,
        )
    note = f"muted certificate [bold]{item.certificate_id}[/] ({escape(item.common_name or '')})"
    emit(item, as_json, note=note)


def unmute(
    certificate_id: int = record_id(),
    url: str | None = URL,
    token: str | None = TOKEN,
    as_json: bool = JSON,
) -> None:
    """Notify about a muted certificate again."""
    with connect(url, token) as client:
        client.request("DELETE", f"/api/v1/certificates/{certificate_id}/mute")
    emit(
        {"certificate_id": certificate_id, "muted": False},
        as_json,
        note=f"unmuted certificate {certificate_id}",
    )


__all__ = ["mute", "notifications", "unmute"]
