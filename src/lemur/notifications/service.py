"""Managing notifications: channels, rules, mutes, the message history, a test message.

Every change is audited (``notification.channel_create``, ``..._update``, ``..._delete``,
``notification.channel_test``, ``notification.rule_*``, ``certificate.mute`` /
``certificate.unmute``) in the transaction that makes it. Options are validated by the
plugin's model and stored with secrets encrypted; the API only ever sees
:func:`lemur.plugins.options.public_options`.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from lemur.accounts.models import Team
from lemur.accounts.service import check_name
from lemur.audit.service import AuditLog, DetailValue, parse_cursor
from lemur.authz import Action, Principal, authorize
from lemur.certificates.models import Certificate
from lemur.db import UnitOfWork
from lemur.errors import Conflict, InvalidInput, LemurError, NotFound
from lemur.notifications.delivery import notice, notifier, stored_options
from lemur.notifications.events import ADDRESSED_PLUGINS, Event, check_thresholds
from lemur.notifications.models import (
    MESSAGES,
    Channel,
    Message,
    Mute,
    Rule,
)
from lemur.plugins.errors import PluginError
from lemur.plugins.options import (
    JSONValue,
    dump_options,
    public_options,
    public_stored_options,
    validate_options,
)
from lemur.plugins.values import Recipient

if TYPE_CHECKING:
    from lemur.container import Container


@dataclass(frozen=True)
class ChannelView:
    id: int
    name: str
    plugin: str
    options: dict[str, JSONValue]  # public: secrets are None, listed in secrets_set
    enabled: bool
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime


@dataclass(frozen=True)
class RuleView:
    id: int
    name: str
    channel_id: int
    channel_name: str
    events: list[str]
    thresholds: list[int]
    owners: bool
    security_team: bool
    addresses: list[str]
    team_id: int | None
    enabled: bool
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime


@dataclass(frozen=True)
class MuteView:
    certificate_id: int
    common_name: str | None
    team_id: int | None
    not_after: dt.datetime
    muted_by: str
    muted_at: dt.datetime
    reason: str


@dataclass(frozen=True)
class MessagePage:
    items: list[Message]
    next_cursor: str | None


@dataclass(frozen=True)
class TestResult:
    delivered: bool
    plugin: str
    recipients: list[str]
    message_id: str
    error_code: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class RuleInput:
    name: str
    channel_id: int
    events: Sequence[Event]
    thresholds: Sequence[int]
    owners: bool
    security_team: bool
    addresses: Sequence[str]
    team_id: int | None
    enabled: bool


class NotificationService:
    def __init__(self, uow: UnitOfWork, *, container: Container, actor: Principal) -> None:
        self._uow = uow
        self._c = container
        self._clock = container.clock
        self._actor = actor

    # -- helpers --------------------------------------------------------------------------

    def _record(
        self,
        session: Session,
        action: str,
        target_type: str,
        target_id: int,
        **details: DetailValue,
    ) -> None:
        AuditLog(session, self._clock).record(
            self._actor.audit_actor,
            action,
            target_type=target_type,
            target_id=target_id,
            details=details,
        )

    def _plugin_class(self, slug: str) -> Any:
        return self._c.plugins.chosen("notifier", slug)

    def _public(self, channel: Channel) -> dict[str, JSONValue]:
        try:
            return public_options(stored_options(self._c.plugins, self._c.keyring, channel))
        except (NotFound, PluginError):
            # The plugin is gone or its options no longer fit: show the non-secret values.
            return public_stored_options(json.loads(channel.options))

    def _channel_view(self, channel: Channel) -> ChannelView:
        return ChannelView(
            id=channel.id,
            name=channel.name,
            plugin=channel.plugin,
            options=self._public(channel),
            enabled=channel.enabled,
            created_at=channel.created_at,
            created_by=channel.created_by,
            updated_at=channel.updated_at,
        )

    def _get_channel(self, session: Session, channel_id: int) -> Channel:
        channel = session.get(Channel, channel_id)
        if channel is None:
            raise NotFound(
                f"no notification channel with id {channel_id}",
                code="channel_not_found",
                field="channel_id",
            )
        return channel

    # -- channels -------------------------------------------------------------------------

    def list_channels(self) -> list[ChannelView]:
        authorize(self._actor, Action.NOTIFICATION_READ)
        rows = self._uow.read.scalars(select(Channel).order_by(Channel.name)).all()
        return [self._channel_view(c) for c in rows]

    def get_channel(self, channel_id: int) -> ChannelView:
        authorize(self._actor, Action.NOTIFICATION_READ)
        return self._channel_view(self._get_channel(self._uow.read, channel_id))

    def create_channel(
        self, name: str, plugin: str, options: Mapping[str, Any], *, enabled: bool = True
    ) -> ChannelView:
        authorize(self._actor, Action.NOTIFICATION_MANAGE)
        check_name(name, field="name", what="channel name", example="ops-email")
        cls = self._plugin_class(plugin)
        model = validate_options(cls.Options, dict(options))
        stored = json.dumps(dump_options(model, self._c.keyring.encrypt), sort_keys=True)
        now = self._clock.now()
        with self._uow.write() as tx:
            _refuse_taken(tx.session, Channel.name, name, what="channel")
            channel = Channel(
                name=name,
                plugin=plugin,
                options=stored,
                enabled=enabled,
                created_at=now,
                created_by=self._actor.actor_name,
                updated_at=now,
            )
            tx.session.add(channel)
            tx.session.flush()
            self._record(
                tx.session,
                "notification.channel_create",
                "channel",
                channel.id,
                name=name,
                plugin=plugin,
                enabled=enabled,
            )
            view = self._channel_view(channel)
        return view

    def update_channel(
        self,
        channel_id: int,
        *,
        name: str | None = None,
        options: Mapping[str, Any] | None = None,
        enabled: bool | None = None,
    ) -> ChannelView:
        """Options are merged key by key into the stored ones: a key left out (a secret in
        particular) keeps its value; ``null`` clears an optional one."""
        authorize(self._actor, Action.NOTIFICATION_MANAGE)
        if name is not None:
            check_name(name, field="name", what="channel name", example="ops-email")
        current = self._get_channel(self._uow.read, channel_id)
        stored: str | None = None
        if options is not None:
            cls = self._plugin_class(current.plugin)
            try:
                kept = stored_options(self._c.plugins, self._c.keyring, current)
                merged: dict[str, Any] = {n: getattr(kept, n) for n in type(kept).model_fields}
            except PluginError:
                merged = {}
            merged.update(options)
            model = validate_options(cls.Options, merged)
            stored = json.dumps(dump_options(model, self._c.keyring.encrypt), sort_keys=True)
        with self._uow.write() as tx:
            channel = self._get_channel(tx.session, channel_id)
            changed: list[str] = []
            if name is not None and name != channel.name:
                _refuse_taken(tx.session, Channel.name, name, what="channel")
                channel.name = name
                changed.append("name")
            if stored is not None:
                channel.options = stored
                changed.append("options")
            if enabled is not None and enabled != channel.enabled:
                channel.enabled = enabled
                changed.append("enabled")
            channel.updated_at = self._clock.now()
            self._record(
                tx.session,
                "notification.channel_update",
                "channel",
                channel.id,
                name=channel.name,
                changed=changed,
            )
            tx.session.flush()
            view = self._channel_view(channel)
        return view

    def delete_channel(self, channel_id: int) -> None:
        authorize(self._actor, Action.NOTIFICATION_MANAGE)
        with self._uow.write() as tx:
            channel = self._get_channel(tx.session, channel_id)
            used = tx.session.scalars(
                select(Rule.name).where(Rule.channel_id == channel_id).order_by(Rule.name)
            ).all()
            if used:
                raise Conflict(
                    f"channel '{channel.name}' is used by rule(s) {', '.join(used)}: delete or "
                    "move them first",
                    code="channel_in_use",
                    field="channel_id",
                )
            self._record(
                tx.session,
                "notification.channel_delete",
                "channel",
                channel.id,
                name=channel.name,
                plugin=channel.plugin,
            )
            tx.session.delete(channel)

    def send_test(self, channel_id: int, recipients: Sequence[str]) -> TestResult:
        """Send a test message now and say what happened (a failure is an answer, not an
        error: the channel is what is being tested)."""
        authorize(self._actor, Action.NOTIFICATION_MANAGE)
        channel = self._get_channel(self._uow.read, channel_id)
        if channel.plugin in ADDRESSED_PLUGINS and not recipients:
            raise InvalidInput(
                f"a test message on an {channel.plugin} channel needs at least one recipient",
                code="recipients_required",
                field="recipients",
            )
        base_url = self._c.settings.effective_base_url
        host = urlsplit(base_url).hostname or "lemur.invalid"
        message_id = f"<lemur.test.{secrets.token_hex(10)}@{host}>"
        now = self._clock.now()
        stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        payload = notice(
            event="test",
            subject=f"Lemur: test message for channel {channel.name}",
            text=f"This is a test message from Lemur ({base_url}), channel {channel.name}, "
            f"sent {stamp}.\nIf you can read it, the channel works.\n",
            html=f"<p>This is a test message from Lemur, channel <strong>{channel.name}"
            f"</strong>, sent {stamp}.</p><p>If you can read it, the channel works.</p>",
            message_id=message_id,
            link=base_url,
            certificate_ids=(),
        )
        error: LemurError | None = None
        try:
            options = stored_options(self._c.plugins, self._c.keyring, channel)
            with notifier(self._c, channel.plugin, options) as plugin:
                plugin.send(payload, [Recipient(r) for r in recipients])
        except LemurError as exc:
            error = exc
        except Exception as exc:  # the plugin failed unexpectedly: report, do not crash
            error = LemurError(f"{type(exc).__name__}: {exc}"[:500], code="plugin_error")
        with self._uow.write() as tx:
            self._record(
                tx.session,
                "notification.channel_test",
                "channel",
                channel.id,
                name=channel.name,
                delivered=error is None,
                recipients=list(recipients),
                error=None if error is None else error.code,
            )
        return TestResult(
            delivered=error is None,
            plugin=channel.plugin,
            recipients=list(recipients),
            message_id=message_id,
            error_code=None if error is None else error.code,
            error=None if error is None else error.message,
        )

    # -- rules ----------------------------------------------------------------------------

    def _rule_views(self, session: Session, rules: Sequence[Rule]) -> list[RuleView]:
        names = (
            dict(
                session.execute(
                    select(Channel.id, Channel.name).where(
                        Channel.id.in_(sorted({r.channel_id for r in rules}))
                    )
                ).all()
            )
            if rules
            else {}
        )
        return [
            RuleView(
                id=r.id,
                name=r.name,
                channel_id=r.channel_id,
                channel_name=names.get(r.channel_id, ""),
                events=json.loads(r.events),
                thresholds=json.loads(r.thresholds),
                owners=r.owners,
                security_team=r.security_team,
                addresses=json.loads(r.addresses),
                team_id=r.team_id,
                enabled=r.enabled,
                created_at=r.created_at,
                created_by=r.created_by,
                updated_at=r.updated_at,
            )
            for r in rules
        ]

    def _get_rule(self, session: Session, rule_id: int) -> Rule:
        rule = session.get(Rule, rule_id)
        if rule is None:
            raise NotFound(
                f"no notification rule with id {rule_id}", code="rule_not_found", field="rule_id"
            )
        return rule

    def list_rules(self) -> list[RuleView]:
        authorize(self._actor, Action.NOTIFICATION_READ)
        read = self._uow.read
        return self._rule_views(read, read.scalars(select(Rule).order_by(Rule.name)).all())

    def get_rule(self, rule_id: int) -> RuleView:
        authorize(self._actor, Action.NOTIFICATION_READ)
        read = self._uow.read
        return self._rule_views(read, [self._get_rule(read, rule_id)])[0]

    def _check_rule(self, session: Session, spec: RuleInput) -> tuple[list[str], list[int]]:
        check_name(spec.name, field="name", what="rule name", example="expiry-owners")
        if not spec.events:
            raise InvalidInput("name at least one event", code="events_required", field="events")
        events: list[str] = []
        for index, event in enumerate(spec.events):
            if event.value in events:
                raise InvalidInput(
                    f"event {event.value} is given twice",
                    code="duplicate_event",
                    field=f"events[{index}]",
                )
            events.append(event.value)
        thresholds = check_thresholds(list(spec.thresholds))
        channel = session.get(Channel, spec.channel_id)
        if channel is None:
            raise InvalidInput(
                f"no notification channel with id {spec.channel_id}",
                code="unknown_channel",
                field="channel_id",
            )
        if spec.team_id is not None and session.get(Team, spec.team_id) is None:
            raise InvalidInput(
                f"no team with id {spec.team_id}", code="unknown_team", field="team_id"
            )
        if (
            channel.plugin in ADDRESSED_PLUGINS
            and not spec.owners
            and not spec.security_team
            and not spec.addresses
        ):
            raise InvalidInput(
                f"an {channel.plugin} rule needs recipients: owners, the security team or "
                "addresses",
                code="recipients_required",
                field="recipients",
            )
        return events, thresholds

    def create_rule(self, spec: RuleInput) -> RuleView:
        authorize(self._actor, Action.NOTIFICATION_MANAGE)
        now = self._clock.now()
        with self._uow.write() as tx:
            events, thresholds = self._check_rule(tx.session, spec)
            _refuse_taken(tx.session, Rule.name, spec.name, what="rule")
            rule = Rule(created_at=now, created_by=self._actor.actor_name)
            _fill_rule(rule, spec, events, thresholds, now)
            tx.session.add(rule)
            tx.session.flush()
            self._record(
                tx.session,
                "notification.rule_create",
                "rule",
                rule.id,
                name=rule.name,
                channel_id=rule.channel_id,
                events=events,
            )
            view = self._rule_views(tx.session, [rule])[0]
        return view

    def update_rule(self, rule_id: int, changes: Mapping[str, Any]) -> RuleView:
        """``changes``: any of the fields of :class:`RuleInput`; the rest is kept."""
        authorize(self._actor, Action.NOTIFICATION_MANAGE)
        with self._uow.write() as tx:
            rule = self._get_rule(tx.session, rule_id)
            current = self._rule_views(tx.session, [rule])[0]
            values: dict[str, Any] = {
                "name": current.name,
                "channel_id": current.channel_id,
                "events": [Event(e) for e in current.events],
                "thresholds": current.thresholds,
                "owners": current.owners,
                "security_team": current.security_team,
                "addresses": current.addresses,
                "team_id": current.team_id,
                "enabled": current.enabled,
            }
            values.update(changes)
            spec = RuleInput(**values)
            events, thresholds = self._check_rule(tx.session, spec)
            if spec.name != rule.name:
                _refuse_taken(tx.session, Rule.name, spec.name, what="rule")
            _fill_rule(rule, spec, events, thresholds, self._clock.now())
            tx.session.flush()
            self._record(
                tx.session,
                "notification.rule_update",
                "rule",
                rule.id,
                name=rule.name,
                changed=sorted(changes),
            )
            view = self._rule_views(tx.session, [rule])[0]
        return view

    def delete_rule(self, rule_id: int) -> None:
        authorize(self._actor, Action.NOTIFICATION_MANAGE)
        with self._uow.write() as tx:
            rule = self._get_rule(tx.session, rule_id)
            self._record(tx.session, "notification.rule_delete", "rule", rule.id, name=rule.name)
            tx.session.delete(rule)

    # -- messages -------------------------------------------------------------------------

    def list_messages(
        self,
        *,
        state: str | None = None,
        channel_id: int | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> MessagePage:
        """Newest first; one SELECT per page."""
        authorize(self._actor, Action.NOTIFICATION_READ)
        stmt = select(Message)
        if state is not None:
            stmt = stmt.where(Message.state == state)
        if channel_id is not None:
            stmt = stmt.where(Message.channel_id == channel_id)
        after = parse_cursor(cursor)
        if after is not None:
            stmt = stmt.where(Message.id < after)
        rows = list(self._uow.read.scalars(stmt.order_by(Message.id.desc()).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return MessagePage(rows, str(rows[-1].id) if more and rows else None)

    # -- mutes ----------------------------------------------------------------------------

    def _certificate_for_mute(self, certificate_id: int) -> Certificate:
        from lemur.authz import allowed

        cert = self._uow.read.get(Certificate, certificate_id)
        team_id = cert.team_id if cert is not None and cert.team_id is not None else -1
        if cert is None or not allowed(self._actor, Action.CERTIFICATE_READ, team_id=team_id):
            raise NotFound(
                f"no certificate with id {certificate_id}",
                code="certificate_not_found",
                field="certificate_id",
            )
        authorize(self._actor, Action.CERTIFICATE_MUTE, team_id=team_id)
        return cert

    def mute(self, certificate_id: int, reason: str) -> MuteView:
        """Mute a certificate (or change the reason of its mute)."""
        cert = self._certificate_for_mute(certificate_id)
        now = self._clock.now()
        with self._uow.write() as tx:
            mute = tx.session.get(Mute, certificate_id)
            if mute is None:
                mute = Mute(
                    certificate_id=certificate_id,
                    muted_by=self._actor.actor_name,
                    muted_at=now,
                    reason=reason,
                )
                tx.session.add(mute)
            else:
                mute.reason = reason
            tx.session.flush()
            self._record(
                tx.session, "certificate.mute", "certificate", certificate_id, reason=reason
            )
            view = _mute_view(mute, cert)
        return view

    def unmute(self, certificate_id: int) -> None:
        self._certificate_for_mute(certificate_id)
        with self._uow.write() as tx:
            gone = tx.session.execute(
                delete(Mute).where(Mute.certificate_id == certificate_id)
            ).rowcount  # type: ignore[attr-defined]
            if not gone:
                raise NotFound(
                    f"certificate {certificate_id} is not muted",
                    code="mute_not_found",
                    field="certificate_id",
                )
            self._record(tx.session, "certificate.unmute", "certificate", certificate_id)

    def list_mutes(self) -> list[MuteView]:
        authorize(self._actor, Action.NOTIFICATION_READ)
        rows = self._uow.read.execute(
            select(Mute, Certificate)
            .join(Certificate, Certificate.id == Mute.certificate_id)
            .order_by(Mute.muted_at.desc(), Mute.certificate_id.desc())
        ).all()
        return [_mute_view(m, c) for m, c in rows]


def _refuse_taken(session: Session, column: Any, name: str, *, what: str) -> None:
    """Conflict ``{what}_exists`` when a row already has this name."""
    if session.scalar(select(func.count()).where(column == name)):
        raise Conflict(
            f"a {what} named '{name}' already exists", code=f"{what}_exists", field="name"
        )


def _fill_rule(
    rule: Rule, spec: RuleInput, events: list[str], thresholds: list[int], now: dt.datetime
) -> None:
    """A rule's columns from a checked spec (events and thresholds as _check_rule gave them)."""
    rule.name = spec.name
    rule.channel_id = spec.channel_id
    rule.events = json.dumps(events)
    rule.thresholds = json.dumps(thresholds)
    rule.owners = spec.owners
    rule.security_team = spec.security_team
    rule.addresses = json.dumps([a.lower() for a in spec.addresses])
    rule.team_id = spec.team_id
    rule.enabled = spec.enabled
    rule.updated_at = now


def _mute_view(mute: Mute, cert: Certificate) -> MuteView:
    return MuteView(
        certificate_id=cert.id,
        common_name=cert.common_name,
        team_id=cert.team_id,
        not_after=cert.not_after,
        muted_by=mute.muted_by,
        muted_at=mute.muted_at,
        reason=mute.reason,
    )


def notification_metrics(session: Session) -> Mapping[str, tuple[int, int]]:
    """Channel name -> (messages sent, messages failed), one GROUP BY statement."""
    out: dict[str, list[int]] = {}
    for name, state, count in session.execute(
        select(MESSAGES.c.channel_name, MESSAGES.c.state, func.count())
        .where(MESSAGES.c.state.in_(["sent", "failed"]))
        .group_by(MESSAGES.c.channel_name, MESSAGES.c.state)
    ):
        counts = out.setdefault(name, [0, 0])
        counts[0 if state == "sent" else 1] += int(count)
    return {name: (sent, failed) for name, (sent, failed) in out.items()}


__all__ = [
    "ChannelView",
    "MessagePage",
    "MuteView",
    "NotificationService",
    "RuleInput",
    "RuleView",
    "TestResult",
    "notification_metrics",
]
