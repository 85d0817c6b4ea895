"""Notification channels: a new channel (the notifier plugin's options form, generated
from its JSON Schema), a channel's page (edit, send a test, delete).

Secrets are password inputs that are never filled in: the page says whether each one is
set, and one left empty keeps its value (the service merges options key by key).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.authz import Action, authorize
from lemur.errors import LemurError
from lemur.ids import PathId
from lemur.notifications.events import ADDRESSED_PLUGINS
from lemur.notifications.schemas import ChannelCreate, ChannelTest, ChannelUpdate
from lemur.notifications.service import ChannelView, TestResult
from lemur.plugins.registry import PluginDescription
from lemur.ui.pages import (
    FORM,
    Form,
    FormErrors,
    FormInvalid,
    Posted,
    SchemaField,
    SignedIn,
    Visit,
    parse,
    schema_fields,
    values_for,
)

router = APIRouter()
PREFIX = "options."


def notifiers(visit: Visit) -> list[PluginDescription]:
    return visit.container.plugins.describe("notifier")


def _notifier(visit: Visit, slug: str) -> PluginDescription | None:
    return next((d for d in notifiers(visit) if d.slug == slug), None)


def option_values(options: Mapping[str, Any], prefix: str = PREFIX) -> dict[str, str]:
    """A channel's public options as form values (``options.port`` -> "587"); secrets are
    None there and stay out."""
    out: dict[str, str] = {}
    for key, value in options.items():
        name = f"{prefix}{key}"
        if (key == "secrets_set" and prefix == PREFIX) or value is None:
            continue
        if isinstance(value, dict):
            out.update(option_values(value, f"{name}."))
        elif isinstance(value, list):
            out[name] = "\n".join(str(v) for v in value)
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    return out


def posted_options(schema: Mapping[str, Any], form: Form, *, editing: bool) -> dict[str, Any]:
    """The options the form sends. Editing, an optional (nullable) option that was emptied is
    sent as null, which clears it; an empty secret is left out, which keeps it."""
    options = values_for(schema, form, prefix=PREFIX)
    if editing:
        for key, raw in dict(schema.get("properties", {})).items():
            name = f"{PREFIX}{key}"
            shapes = [raw, *raw.get("anyOf", ())]
            nullable = any(o.get("type") == "null" for o in shapes)
            secret = any(o.get("writeOnly") or o.get("format") == "password" for o in shapes)
            if nullable and not secret and name in form.fields and not form.get(name).strip():
                options[key] = None
    return options


def secret_states(fields: list[SchemaField], secrets_set: list[str]) -> list[tuple[str, bool]]:
    """Each secret option's label, and whether it has a value."""
    return [
        (f.label, f.name.removeprefix(PREFIX) in secrets_set)
        for f in fields
        if f.kind == "password"
    ]


def _new_page(
    visit: Visit,
    plugin: PluginDescription | None,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    return visit.render(
        "notifications/channel_new.html",
        status=status,
        plugins=notifiers(visit),
        plugin=plugin,
        fields=schema_fields(plugin.options_schema) if plugin else [],
        errors=errors or FormErrors(),
        values=values if values is not None else {"enabled": "true"},
    )


@router.get("/notifications/channels/new", response_class=HTMLResponse)
def new_channel(visit: SignedIn, plugin: str = "") -> Response:
    """Without a plugin (or an unknown one): choose it; with one: its options form."""
    authorize(visit.principal, Action.NOTIFICATION_MANAGE)
    found = _notifier(visit, plugin) if plugin else None
    errors = (
        FormErrors({"plugin": "Choose one of the plugins listed."})
        if plugin and not found
        else None
    )
    return _new_page(visit, found, errors=errors, status=422 if errors else 200)


@router.post("/notifications/channels/new", response_class=HTMLResponse)
def create_channel(visit: SignedIn, form: Posted) -> Response:
    authorize(visit.principal, Action.NOTIFICATION_MANAGE)
    plugin = _notifier(visit, form.get("plugin"))

    def work() -> Response:
        try:
            options = posted_options(plugin.options_schema, form, editing=False) if plugin else {}
            body = parse(ChannelCreate, form, extra={"options": options})
            with visit.services() as services:
                channel = services.notifications().create_channel(
                    body.name, body.plugin, body.options, enabled=body.enabled
                )
        except FormInvalid as exc:
            return _new_page(visit, plugin, status=422, errors=exc.errors, values=form.values)
        except LemurError as exc:
            return _new_page(
                visit,
                plugin,
                status=exc.status,
                errors=FormErrors.of_error(exc),
                values=form.values,
            )
        return visit.redirect(
            f"/notifications/channels/{channel.id}",
            notice=f"Channel {channel.name} was created. Send a test to check it works.",
        )

    return visit.once(form, work)


def _channel_page(
    visit: Visit,
    channel_id: int,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    test: TestResult | None = None,
    failed: str | None = None,
) -> Response:
    """The channel's page; ``failed`` names the form (edit, test, delete) whose ``errors``
    and posted ``values`` are shown."""
    with visit.services() as services:
        channel: ChannelView = services.notifications().get_channel(channel_id)
        rules = [r for r in services.notifications().list_rules() if r.channel_id == channel_id]
    plugin = _notifier(visit, channel.plugin)
    fields = schema_fields(plugin.options_schema) if plugin else []
    listed = channel.options.get("secrets_set")
    secrets_set = [str(s) for s in listed] if isinstance(listed, list) else []
    shown = {"name": channel.name, "enabled": "true" if channel.enabled else "false"}
    shown.update(option_values(channel.options))
    recipients = visit.user.email or ""
    return visit.render(
        "notifications/channel.html",
        status=status,
        channel=channel,
        plugin=plugin,
        fields=fields,
        secrets_set=secrets_set,
        secret_states=secret_states(fields, secrets_set),
        rules=rules,
        addressed=channel.plugin in ADDRESSED_PLUGINS,
        may_manage=visit.may(Action.NOTIFICATION_MANAGE),
        test=test,
        failed=failed,
        errors=errors or FormErrors(),
        values={**shown, "recipients": recipients, **(values or {})},
    )


@router.get("/notifications/channels/{channel_id:int}", response_class=HTMLResponse)
def channel(visit: SignedIn, channel_id: PathId) -> Response:
    return _channel_page(visit, channel_id)


@router.post("/notifications/channels/{channel_id:int}", response_class=HTMLResponse)
def update_channel(visit: SignedIn, form: Posted, channel_id: PathId) -> Response:
    authorize(visit.principal, Action.NOTIFICATION_MANAGE)

    def work() -> Response:
        try:
            with visit.services() as services:
                service = services.notifications()
                current = service.get_channel(channel_id)
                plugin = _notifier(visit, current.plugin)
                options = (
                    posted_options(plugin.options_schema, form, editing=True) if plugin else None
                )
                # An emptied name is refused (the API's null would keep it).
                body = parse(
                    ChannelUpdate, form, extra={"options": options, "name": form.get("name")}
                )
                updated = service.update_channel(
                    channel_id, name=body.name, options=body.options, enabled=body.enabled
                )
        except FormInvalid as exc:
            return _channel_page(
                visit, channel_id, status=422, errors=exc.errors, values=form.values, failed="edit"
            )
        except LemurError as exc:
            if exc.field == "channel_id" and exc.status == 404:
                raise
            return _channel_page(
                visit,
                channel_id,
                status=exc.status,
                errors=FormErrors.of_error(exc),
                values=form.values,
                failed="edit",
            )
        return visit.redirect(
            f"/notifications/channels/{channel_id}", notice=f"Channel {updated.name} was saved."
        )

    return visit.once(form, work)


@router.post("/notifications/channels/{channel_id:int}/test", response_class=HTMLResponse)
def send_test(visit: SignedIn, form: Posted, channel_id: PathId) -> Response:
    """Sends now and shows what happened on the channel's page; reloading that page does
    not send again."""
    authorize(visit.principal, Action.NOTIFICATION_MANAGE)
    kept = {"recipients": form.get("recipients")}

    def work() -> Response:
        try:
            body = parse(ChannelTest, form)
            with visit.services() as services:
                result = services.notifications().send_test(channel_id, body.recipients)
        except FormInvalid as exc:
            return _channel_page(
                visit, channel_id, status=422, errors=exc.errors, values=kept, failed="test"
            )
        except LemurError as exc:
            if exc.field == "channel_id" and exc.status == 404:
                raise
            return _channel_page(
                visit,
                channel_id,
                status=exc.status,
                errors=FormErrors.of_error(exc),
                values=kept,
                failed="test",
            )
        return _channel_page(visit, channel_id, test=result, values=kept)

    return visit.once(form, work, then=f"/notifications/channels/{channel_id}")


@router.post("/notifications/channels/{channel_id:int}/delete", response_class=HTMLResponse)
def delete_channel(visit: SignedIn, form: Posted, channel_id: PathId) -> Response:
    authorize(visit.principal, Action.NOTIFICATION_MANAGE)

    def work() -> Response:
        try:
            with visit.services() as services:
                service = services.notifications()
                name = service.get_channel(channel_id).name
                service.delete_channel(channel_id)
        except LemurError as exc:
            if exc.status == 404:
                raise
            return _channel_page(
                visit,
                channel_id,
                status=exc.status,
                errors=FormErrors({FORM: exc.message}),
                failed="delete",
            )
        return visit.redirect("/notifications", notice=f"Channel {name} was deleted.")

    return visit.once(form, work)
