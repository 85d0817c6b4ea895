"""/api/v1/notifications (channels, rules, messages, mutes) and the certificate mute
(PUT/DELETE /api/v1/certificates/{id}/mute)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from lemur.authz import Action, Principal
from lemur.container import Container
from lemur.ids import MAX_ID, PathId
from lemur.notifications.models import MessageState
from lemur.notifications.schemas import (
    ChannelCreate,
    ChannelOut,
    ChannelTest,
    ChannelTestOut,
    ChannelUpdate,
    MessageOut,
    MessagePageOut,
    MuteIn,
    MuteOut,
    RuleCreate,
    RuleOut,
    RuleUpdate,
)
from lemur.notifications.service import NotificationService, RuleInput
from lemur.services import Services
from lemur.text import Line
from lemur.web.api import get_container, read_session, require
from lemur.web.openapi import errors

router = APIRouter(tags=["notifications"])
PREFIX = "/api/v1/notifications"


def _service(container: Container, principal: Principal, session: Session) -> NotificationService:
    return Services(container, principal, read=session).notifications()


# -- channels ---------------------------------------------------------------------------------


@router.get(f"{PREFIX}/channels", response_model=list[ChannelOut])
def list_channels(
    principal: Principal = Depends(require(Action.NOTIFICATION_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> list[ChannelOut]:
    return [ChannelOut.of(c) for c in _service(container, principal, session).list_channels()]


@router.post(
    f"{PREFIX}/channels", response_model=ChannelOut, status_code=201, responses=errors(409)
)
def create_channel(
    body: ChannelCreate,
    principal: Principal = Depends(require(Action.NOTIFICATION_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> ChannelOut:
    service = _service(container, principal, session)
    return ChannelOut.of(
        service.create_channel(body.name, body.plugin, body.options, enabled=body.enabled)
    )


@router.get(f"{PREFIX}/channels/{{channel_id}}", response_model=ChannelOut, responses=errors(404))
def get_channel(
    channel_id: PathId,
    principal: Principal = Depends(require(Action.NOTIFICATION_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> ChannelOut:
    return ChannelOut.of(_service(container, principal, session).get_channel(channel_id))


@router.patch(
    f"{PREFIX}/channels/{{channel_id}}", response_model=ChannelOut, responses=errors(404, 409)
)
def update_channel(
    channel_id: PathId,
    body: ChannelUpdate,
    principal: Principal = Depends(require(Action.NOTIFICATION_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> ChannelOut:
    service = _service(container, principal, session)
    return ChannelOut.of(
        service.update_channel(
            channel_id, name=body.name, options=body.options, enabled=body.enabled
        )
    )


@router.delete(f"{PREFIX}/channels/{{channel_id}}", status_code=204, responses=errors(404, 409))
def delete_channel(
    channel_id: PathId,
    principal: Principal = Depends(require(Action.NOTIFICATION_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> Response:
    _service(container, principal, session).delete_channel(channel_id)
    return Response(status_code=204)


@router.post(
    f"{PREFIX}/channels/{{channel_id}}/test",
    response_model=ChannelTestOut,
    responses=errors(404),
)
def send_test_message(
    channel_id: PathId,
    body: ChannelTest,
    principal: Principal = Depends(require(Action.NOTIFICATION_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> ChannelTestOut:
    """Send a test message now; the answer says whether the channel took it (a channel
    that fails is an answer with ``delivered: false``, not an error)."""
    recipients = body.recipients
    service = _service(container, principal, session)
    return ChannelTestOut.of(service.send_test(channel_id, recipients))


# -- rules ------------------------------------------------------------------------------------


@router.get(f"{PREFIX}/rules", response_model=list[RuleOut])
def list_rules(
    principal: Principal = Depends(require(Action.NOTIFICATION_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> list[RuleOut]:
    return [RuleOut.of(r) for r in _service(container, principal, session).list_rules()]


@router.post(f"{PREFIX}/rules", response_model=RuleOut, status_code=201, responses=errors(409))
def create_rule(
    body: RuleCreate,
    principal: Principal = Depends(require(Action.NOTIFICATION_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> RuleOut:
    service = _service(container, principal, session)
    return RuleOut.of(
        service.create_rule(
            RuleInput(
                name=body.name,
                channel_id=body.channel_id,
                events=body.events,
                thresholds=body.thresholds,
                owners=body.recipients.owners,
                security_team=body.recipients.security_team,
                addresses=body.recipients.addresses,
                team_id=body.team_id,
                enabled=body.enabled,
            )
        )
    )


@router.get(f"{PREFIX}/rules/{{rule_id}}", response_model=RuleOut, responses=errors(404))
def get_rule(
    rule_id: PathId,
    principal: Principal = Depends(require(Action.NOTIFICATION_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> RuleOut:
    return RuleOut.of(_service(container, principal, session).get_rule(rule_id))


@router.patch(f"{PREFIX}/rules/{{rule_id}}", response_model=RuleOut, responses=errors(404, 409))
def update_rule(
    rule_id: PathId,
    body: RuleUpdate,
    principal: Principal = Depends(require(Action.NOTIFICATION_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> RuleOut:
    changes = body.model_dump(exclude_unset=True, exclude={"recipients"})
    if "events" in changes and changes["events"] is None:
        changes.pop("events")
    if "thresholds" in changes and changes["thresholds"] is None:
        changes.pop("thresholds")
    for key in ("name", "channel_id", "enabled"):
        if key in changes and changes[key] is None:
            changes.pop(key)
    if "events" in changes:
        changes["events"] = list(body.events or [])
    if body.recipients is not None:
        changes["owners"] = body.recipients.owners
        changes["security_team"] = body.recipients.security_team
        changes["addresses"] = body.recipients.addresses
    service = _service(container, principal, session)
    return RuleOut.of(service.update_rule(rule_id, changes))


@router.delete(f"{PREFIX}/rules/{{rule_id}}", status_code=204, responses=errors(404))
def delete_rule(
    rule_id: PathId,
    principal: Principal = Depends(require(Action.NOTIFICATION_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> Response:
    _service(container, principal, session).delete_rule(rule_id)
    return Response(status_code=204)


# -- messages and mutes -----------------------------------------------------------------------


@router.get(f"{PREFIX}/messages", response_model=MessagePageOut)
def list_messages(
    state: MessageState | None = Query(None),
    channel_id: int | None = Query(None, ge=1, le=MAX_ID),
    limit: int = Query(50, ge=1, le=500),
    cursor: Annotated[Line | None, Query(max_length=100)] = None,
    principal: Principal = Depends(require(Action.NOTIFICATION_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> MessagePageOut:
    """Newest first; ``state=failed`` shows what could not be delivered, with the reason."""
    page = _service(container, principal, session).list_messages(
        state=state.value if state is not None else None,
        channel_id=channel_id,
        limit=limit,
        cursor=cursor,
    )
    return MessagePageOut(
        items=[MessageOut.of(m) for m in page.items], next_cursor=page.next_cursor
    )


@router.get(f"{PREFIX}/mutes", response_model=list[MuteOut])
def list_mutes(
    principal: Principal = Depends(require(Action.NOTIFICATION_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> list[MuteOut]:
    return [MuteOut.of(m) for m in _service(container, principal, session).list_mutes()]


@router.put(
    "/api/v1/certificates/{certificate_id}/mute", response_model=MuteOut, responses=errors(404)
)
def mute_certificate(
    certificate_id: PathId,
    body: MuteIn,
    principal: Principal = Depends(require(Action.CERTIFICATE_MUTE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> MuteOut:
    """No notices of any event for this certificate until it is unmuted."""
    return MuteOut.of(_service(container, principal, session).mute(certificate_id, body.reason))


@router.delete("/api/v1/certificates/{certificate_id}/mute", status_code=204, responses=errors(404))
def unmute_certificate(
    certificate_id: PathId,
    principal: Principal = Depends(require(Action.CERTIFICATE_MUTE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> Response:
    _service(container, principal, session).unmute(certificate_id)
    return Response(status_code=204)
