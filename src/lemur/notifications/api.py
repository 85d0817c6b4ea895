"""/api/v1/notifications (channels, rules, messages, mutes) and the certificate mute
(PUT/DELETE /api/v1/certificates/{id}/mute)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from lemur.authz import Action
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
from lemur.services import Services
from lemur.text import Line
from lemur.web.api import services_for
from lemur.web.openapi import errors

router = APIRouter(tags=["notifications"])
PREFIX = "/api/v1/notifications"
READ = Depends(services_for(Action.NOTIFICATION_READ))
MANAGE = Depends(services_for(Action.NOTIFICATION_MANAGE))
MUTE = Depends(services_for(Action.CERTIFICATE_MUTE))


# -- channels ---------------------------------------------------------------------------------


@router.get(f"{PREFIX}/channels", response_model=list[ChannelOut])
def list_channels(services: Services = READ) -> list[ChannelOut]:
    return [ChannelOut.of(c) for c in services.notifications().list_channels()]


@router.post(
    f"{PREFIX}/channels", response_model=ChannelOut, status_code=201, responses=errors(409)
)
def create_channel(body: ChannelCreate, services: Services = MANAGE) -> ChannelOut:
    service = services.notifications()
    return ChannelOut.of(
        service.create_channel(body.name, body.plugin, body.options, enabled=body.enabled)
    )


@router.get(f"{PREFIX}/channels/{{channel_id}}", response_model=ChannelOut, responses=errors(404))
def get_channel(channel_id: PathId, services: Services = READ) -> ChannelOut:
    return ChannelOut.of(services.notifications().get_channel(channel_id))


@router.patch(
    f"{PREFIX}/channels/{{channel_id}}", response_model=ChannelOut, responses=errors(404, 409)
)
def update_channel(
    channel_id: PathId, body: ChannelUpdate, services: Services = MANAGE
) -> ChannelOut:
    service = services.notifications()
    return ChannelOut.of(
        service.update_channel(
            channel_id, name=body.name, options=body.options, enabled=body.enabled
        )
    )


@router.delete(f"{PREFIX}/channels/{{channel_id}}", status_code=204, responses=errors(404, 409))
def delete_channel(channel_id: PathId, services: Services = MANAGE) -> Response:
    services.notifications().delete_channel(channel_id)
    return Response(status_code=204)


@router.post(
    f"{PREFIX}/channels/{{channel_id}}/test",
    response_model=ChannelTestOut,
    responses=errors(404),
)
def send_test_message(
    channel_id: PathId, body: ChannelTest, services: Services = MANAGE
) -> ChannelTestOut:
    """Send a test message now; the answer says whether the channel took it (a channel
    that fails is an answer with ``delivered: false``, not an error)."""
    return ChannelTestOut.of(services.notifications().send_test(channel_id, body.recipients))


# -- rules ------------------------------------------------------------------------------------


@router.get(f"{PREFIX}/rules", response_model=list[RuleOut])
def list_rules(services: Services = READ) -> list[RuleOut]:
    return [RuleOut.of(r) for r in services.notifications().list_rules()]


@router.post(f"{PREFIX}/rules", response_model=RuleOut, status_code=201, responses=errors(409))
def create_rule(body: RuleCreate, services: Services = MANAGE) -> RuleOut:
    return RuleOut.of(services.notifications().create_rule(body.spec()))


@router.get(f"{PREFIX}/rules/{{rule_id}}", response_model=RuleOut, responses=errors(404))
def get_rule(rule_id: PathId, services: Services = READ) -> RuleOut:
    return RuleOut.of(services.notifications().get_rule(rule_id))


@router.patch(f"{PREFIX}/rules/{{rule_id}}", response_model=RuleOut, responses=errors(404, 409))
def update_rule(rule_id: PathId, body: RuleUpdate, services: Services = MANAGE) -> RuleOut:
    return RuleOut.of(services.notifications().update_rule(rule_id, body.changes()))


@router.delete(f"{PREFIX}/rules/{{rule_id}}", status_code=204, responses=errors(404))
def delete_rule(rule_id: PathId, services: Services = MANAGE) -> Response:
    services.notifications().delete_rule(rule_id)
    return Response(status_code=204)


# -- messages and mutes -----------------------------------------------------------------------


@router.get(f"{PREFIX}/messages", response_model=MessagePageOut)
def list_messages(
    state: MessageState | None = Query(None),
    channel_id: int | None = Query(None, ge=1, le=MAX_ID),
    limit: int = Query(50, ge=1, le=500),
    cursor: Annotated[Line | None, Query(max_length=100)] = None,
    services: Services = READ,
) -> MessagePageOut:
    """Newest first; ``state=failed`` shows what could not be delivered, with the reason."""
    page = services.notifications().list_messages(
        state=state.value if state is not None else None,
        channel_id=channel_id,
        limit=limit,
        cursor=cursor,
    )
    return MessagePageOut(
        items=[MessageOut.of(m) for m in page.items], next_cursor=page.next_cursor
    )


@router.get(f"{PREFIX}/mutes", response_model=list[MuteOut])
def list_mutes(services: Services = READ) -> list[MuteOut]:
    return [MuteOut.of(m) for m in services.notifications().list_mutes()]


@router.put(
    "/api/v1/certificates/{certificate_id}/mute", response_model=MuteOut, responses=errors(404)
)
def mute_certificate(certificate_id: PathId, body: MuteIn, services: Services = MUTE) -> MuteOut:
    """No notices of any event for this certificate until it is unmuted."""
    return MuteOut.of(services.notifications().mute(certificate_id, body.reason))


@router.delete("/api/v1/certificates/{certificate_id}/mute", status_code=204, responses=errors(404))
def unmute_certificate(certificate_id: PathId, services: Services = MUTE) -> Response:
    services.notifications().unmute(certificate_id)
    return Response(status_code=204)
