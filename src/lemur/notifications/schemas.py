"""Request and answer bodies of /api/v1/notifications and the certificate mute."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from lemur.ids import BodyId
from lemur.notifications.events import DEFAULT_THRESHOLDS, MAX_THRESHOLD, MAX_THRESHOLDS, Event
from lemur.notifications.models import Message, MessageState
from lemur.notifications.service import ChannelView, MuteView, RuleInput, RuleView, TestResult
from lemur.text import Line, Text

_EMAIL = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("not an email address (name@example.com)")
    return value


EmailAddress = Annotated[Line, Field(max_length=254), AfterValidator(_email)]
Days = Annotated[int, Field(ge=1, le=MAX_THRESHOLD)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChannelCreate(Strict):
    name: Line = Field(max_length=64, description="lowercase letters, digits, '.', '_', '-'")
    plugin: Line = Field(max_length=64, description="a notifier plugin: email, ses, slack, webhook")
    options: dict[Line, Any] = Field(
        default_factory=dict,
        description="the plugin's options (GET /api/v1/plugins has their schema); secrets are "
        "stored encrypted and never returned",
    )
    enabled: bool = True


class ChannelUpdate(Strict):
    name: Line | None = Field(None, max_length=64)
    options: dict[Line, Any] | None = Field(
        None,
        description="merged key by key into the stored options: a key left out (a secret in "
        "particular) keeps its value",
    )
    enabled: bool | None = None


class ChannelOut(BaseModel):
    id: int
    name: str
    plugin: str
    options: dict[str, Any] = Field(
        description="secrets are null; options.secrets_set names the secrets that have a value"
    )
    enabled: bool
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime

    @classmethod
    def of(cls, v: ChannelView) -> ChannelOut:
        return cls(
            id=v.id,
            name=v.name,
            plugin=v.plugin,
            options=v.options,
            enabled=v.enabled,
            created_at=v.created_at,
            created_by=v.created_by,
            updated_at=v.updated_at,
        )


class ChannelTest(Strict):
    recipients: list[Annotated[Line, Field(max_length=254)]] = Field(
        default_factory=list,
        max_length=10,
        description="email addresses (email, ses); ignored by slack and webhook",
    )


class ChannelTestOut(BaseModel):
    delivered: bool
    plugin: str
    recipients: list[str]
    message_id: str
    error_code: str | None
    error: str | None

    @classmethod
    def of(cls, r: TestResult) -> ChannelTestOut:
        return cls(
            delivered=r.delivered,
            plugin=r.plugin,
            recipients=r.recipients,
            message_id=r.message_id,
            error_code=r.error_code,
            error=r.error,
        )


class Recipients(Strict):
    owners: bool = Field(True, description="the members (with an email) of the owning team")
    security_team: bool = Field(False, description="users with the security role and an email")
    addresses: list[EmailAddress] = Field(default_factory=list, max_length=50)


class RuleCreate(Strict):
    name: Line = Field(max_length=64)
    channel_id: BodyId
    events: list[Event] = Field(min_length=1, max_length=len(Event))
    thresholds: list[Days] = Field(
        default_factory=lambda: list(DEFAULT_THRESHOLDS),
        max_length=MAX_THRESHOLDS,
        description="days before expiry, for the event 'expiring'",
    )
    recipients: Recipients = Field(default_factory=Recipients)
    team_id: BodyId | None = Field(None, description="only certificates of this team")
    enabled: bool = True

    def spec(self) -> RuleInput:
        """The rule as the service takes it (the API and the web UI alike)."""
        return RuleInput(
            name=self.name,
            channel_id=self.channel_id,
            events=self.events,
            thresholds=self.thresholds,
            owners=self.recipients.owners,
            security_team=self.recipients.security_team,
            addresses=self.recipients.addresses,
            team_id=self.team_id,
            enabled=self.enabled,
        )


class RuleUpdate(Strict):
    name: Line | None = Field(None, max_length=64)
    channel_id: BodyId | None = None
    events: list[Event] | None = Field(None, min_length=1, max_length=len(Event))
    thresholds: list[Days] | None = Field(None, max_length=MAX_THRESHOLDS)
    recipients: Recipients | None = None
    team_id: BodyId | None = None
    enabled: bool | None = None

    def changes(self) -> dict[str, Any]:
        """The fields given, as NotificationService.update_rule takes them: ``null`` keeps
        a field, except ``team_id``, where it means every team."""
        changes = self.model_dump(exclude_unset=True, exclude={"recipients"})
        for key in ("name", "channel_id", "events", "thresholds", "enabled"):
            if key in changes and changes[key] is None:
                changes.pop(key)
        if "events" in changes:
            changes["events"] = list(self.events or [])
        if self.recipients is not None:
            changes["owners"] = self.recipients.owners
            changes["security_team"] = self.recipients.security_team
            changes["addresses"] = self.recipients.addresses
        return changes


class RuleOut(BaseModel):
    id: int
    name: str
    channel_id: int
    channel_name: str
    events: list[str]
    thresholds: list[int]
    recipients: Recipients
    team_id: int | None
    enabled: bool
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime

    @classmethod
    def of(cls, v: RuleView) -> RuleOut:
        return cls(
            id=v.id,
            name=v.name,
            channel_id=v.channel_id,
            channel_name=v.channel_name,
            events=v.events,
            thresholds=v.thresholds,
            recipients=Recipients.model_construct(
                owners=v.owners, security_team=v.security_team, addresses=v.addresses
            ),
            team_id=v.team_id,
            enabled=v.enabled,
            created_at=v.created_at,
            created_by=v.created_by,
            updated_at=v.updated_at,
        )


class MessageOut(BaseModel):
    id: int
    channel_id: int
    channel_name: str
    recipient: str
    event: str
    message_id: str = Field(description="the same on every retry (the email's Message-ID)")
    subject: str
    text: str
    link: str | None
    certificate_ids: list[int]
    state: MessageState
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    sent_at: dt.datetime | None

    @classmethod
    def of(cls, m: Message) -> MessageOut:
        return cls(
            id=m.id,
            channel_id=m.channel_id,
            channel_name=m.channel_name,
            recipient=m.recipient,
            event=m.event,
            message_id=m.message_id,
            subject=m.subject,
            text=m.body_text,
            link=m.link,
            certificate_ids=json.loads(m.certificate_ids),
            state=MessageState(m.state),
            attempts=m.attempts,
            last_error=m.last_error,
            created_at=m.created_at,
            sent_at=m.sent_at,
        )


class MessagePageOut(BaseModel):
    items: list[MessageOut]
    next_cursor: str | None


class MuteIn(Strict):
    reason: Text = Field("", max_length=500)


class MuteOut(BaseModel):
    certificate_id: int
    common_name: str | None
    team_id: int | None
    not_after: dt.datetime
    muted_by: str
    muted_at: dt.datetime
    reason: str

    @classmethod
    def of(cls, v: MuteView) -> MuteOut:
        return cls(
            certificate_id=v.certificate_id,
            common_name=v.common_name,
            team_id=v.team_id,
            not_after=v.not_after,
            muted_by=v.muted_by,
            muted_at=v.muted_at,
            reason=v.reason,
        )
