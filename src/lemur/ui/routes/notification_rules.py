"""Notification rules: which events go to which channel and to whom (new, edit, delete).

The form is the API's RuleCreate (new) and RuleUpdate (edit, every field sent) with the
same names: ``events`` checkboxes, ``thresholds`` (days, separated by commas or spaces),
``recipients.owners``, ``recipients.security_team``, ``recipients.addresses`` (one per
line), ``team_id`` (empty: every team), ``channel_id``.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.authz import Action, authorize
from lemur.errors import LemurError
from lemur.ids import PathId
from lemur.notifications.events import DEFAULT_THRESHOLDS, Event
from lemur.notifications.schemas import RuleCreate, RuleUpdate
from lemur.notifications.service import RuleView
from lemur.ui.pages import Form, FormErrors, FormInvalid, Posted, SignedIn, Visit, parse

router = APIRouter()
# What each event means, in the words of docs/notifications.md.
EVENTS = {
    Event.EXPIRING: "expiring: a certificate crossed one of the thresholds below",
    Event.ISSUED: "issued",
    Event.RENEWED: "renewed",
    Event.REVOKED: "revoked",
    Event.RENEWAL_FAILED: "renewal failed (automatic renewal)",
    Event.RENEWAL_NEEDED: "renewal needed: Lemur will not renew it itself",
    Event.REQUEST_FAILED: "a request failed at the CA (ACME, AWS Private CA, ...)",
    Event.DEPLOYMENT_FAILED: "a deployment failed or was rolled back",
    Event.JOB_FAILED: "a job gave up",
    Event.AUDIT_CHAIN_BROKEN: "the audit log's chain is broken",
}


def rule_form(form: Form) -> Form:
    """The posted form with the thresholds split into one value each ("30, 14 7")."""
    parts = [p for v in form.getlist("thresholds") for p in re.split(r"[\s,;]+", v) if p]
    fields: dict[str, list[str]] = {**form.fields, "thresholds": parts}
    if not parts:
        fields.pop("thresholds")
    return Form(fields, form.files)


def _extra(form: Form) -> dict[str, Any]:
    # Unchecked boxes and an empty team select send nothing; a rule that is edited must
    # still lose its events (refused) and its team (every team).
    return {"events": form.getlist("events"), "team_id": form.get("team_id") or None}


def _errors(errors: FormErrors, form: Form) -> FormErrors:
    if errors.of("events") and not form.getlist("events"):
        errors["events"] = "Choose at least one event."
    return errors


def rule_values(rule: RuleView) -> dict[str, str]:
    return {
        "name": rule.name,
        "channel_id": str(rule.channel_id),
        "thresholds": ", ".join(str(t) for t in rule.thresholds),
        "recipients.owners": "true" if rule.owners else "false",
        "recipients.security_team": "true" if rule.security_team else "false",
        "recipients.addresses": "\n".join(rule.addresses),
        "team_id": "" if rule.team_id is None else str(rule.team_id),
        "enabled": "true" if rule.enabled else "false",
    }


def _rule_page(
    visit: Visit,
    rule: RuleView | None,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    events: list[str] | None = None,
) -> Response:
    with visit.services() as services:
        channels = services.notifications().list_channels()
        teams = services.accounts().list_teams()
    if values is None:
        if rule is not None:
            values = rule_values(rule)
        else:
            first = str(channels[0].id) if channels else ""
            values = {
                "channel_id": visit.request.query_params.get("channel_id", first),
                "thresholds": ", ".join(str(t) for t in DEFAULT_THRESHOLDS),
                "recipients.owners": "true",
                "recipients.security_team": "false",
                "enabled": "true",
            }
    if events is None:
        events = rule.events if rule is not None else [Event.EXPIRING.value]
    return visit.render(
        "notifications/rule.html",
        status=status,
        rule=rule,
        channels=[(c.id, f"{c.name} ({c.plugin})") for c in channels],
        teams=[(t.id, t.name) for t in teams],
        event_choices=[(e.value, label) for e, label in EVENTS.items()],
        checked_events=events,
        may_manage=visit.may(Action.NOTIFICATION_MANAGE),
        errors=errors or FormErrors(),
        values=values,
    )


@router.get("/notifications/rules/new", response_class=HTMLResponse)
def new_rule(visit: SignedIn) -> Response:
    authorize(visit.principal, Action.NOTIFICATION_MANAGE)
    return _rule_page(visit, None)


@router.post("/notifications/rules/new", response_class=HTMLResponse)
def create_rule(visit: SignedIn, form: Posted) -> Response:
    authorize(visit.principal, Action.NOTIFICATION_MANAGE)
    posted = rule_form(form)

    def work() -> Response:
        try:
            body = parse(RuleCreate, posted, extra=_extra(posted))
            with visit.services() as services:
                rule = services.notifications().create_rule(body.spec())
        except FormInvalid as exc:
            return _rule_page(
                visit,
                None,
                status=422,
                errors=_errors(exc.errors, posted),
                values=form.values,
                events=posted.getlist("events"),
            )
        except LemurError as exc:
            return _rule_page(
                visit,
                None,
                status=exc.status,
                errors=FormErrors.of_error(exc),
                values=form.values,
                events=posted.getlist("events"),
            )
        return visit.redirect("/notifications", notice=f"Rule {rule.name} was created.")

    return visit.once(form, work)


@router.get("/notifications/rules/{rule_id:int}", response_class=HTMLResponse)
def rule(visit: SignedIn, rule_id: PathId) -> Response:
    with visit.services() as services:
        found = services.notifications().get_rule(rule_id)
    return _rule_page(visit, found)


@router.post("/notifications/rules/{rule_id:int}", response_class=HTMLResponse)
def update_rule(visit: SignedIn, form: Posted, rule_id: PathId) -> Response:
    authorize(visit.principal, Action.NOTIFICATION_MANAGE)
    posted = rule_form(form)

    def work() -> Response:
        with visit.services() as services:
            service = services.notifications()
            current = service.get_rule(rule_id)
            try:
                body = parse(RuleUpdate, posted, extra=_extra(posted))
                updated = service.update_rule(rule_id, body.changes())
            except FormInvalid as exc:
                errors = _errors(exc.errors, posted)
                status = 422
            except LemurError as exc:
                if exc.field == "rule_id" and exc.status == 404:
                    raise
                errors, status = FormErrors.of_error(exc), exc.status
            else:
                return visit.redirect("/notifications", notice=f"Rule {updated.name} was saved.")
        return _rule_page(
            visit,
            current,
            status=status,
            errors=errors,
            values=form.values,
            events=posted.getlist("events"),
        )

    return visit.once(form, work)


@router.post("/notifications/rules/{rule_id:int}/delete", response_class=HTMLResponse)
def delete_rule(visit: SignedIn, form: Posted, rule_id: PathId) -> Response:
    authorize(visit.principal, Action.NOTIFICATION_MANAGE)

    def work() -> Response:
        with visit.services() as services:
            service = services.notifications()
            name = service.get_rule(rule_id).name
            service.delete_rule(rule_id)
        return visit.redirect("/notifications", notice=f"Rule {name} was deleted.")

    return visit.once(form, work)
