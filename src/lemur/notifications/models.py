"""Notification tables: channels, rules, the ledger, messages, mutes and the event cursor.

- A **channel** is a configured notifier plugin (``email``, ``ses``, ``slack``,
  ``webhook``); its options are stored as :func:`lemur.plugins.options.dump_options` writes
  them (secrets encrypted with the key ring).
- A **rule** says which events go to which channel and to whom.
- The **ledger** has one row per (subject, event, threshold, channel, recipient) ever
  notified, unique on those five: it is what makes a notice go out once. ``subject`` is a
  string key (``certificate:42``, ``job:17``) so events without a certificate dedupe too.
- A **message** is one digest for one recipient on one channel, with a ``message_id`` fixed
  when the row is written and reused by every retry.
- A **mute** silences one certificate for every event.
- The **cursor** is the last audit ``seq`` the events job has turned into notices.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import cast

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from lemur.db import Base, UTCDateTime


class MessageState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Channel(Base):
    __tablename__ = "notification_channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    plugin: Mapped[str] = mapped_column(String(64))
    # JSON (dump_options), secrets encrypted inside; `lemur keys rotate` re-encrypts them.
    options: Mapped[str] = mapped_column(Text, info={"encrypted_json": True})
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Rule(Base):
    __tablename__ = "notification_rules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id"), index=True)
    events: Mapped[str] = mapped_column(Text)  # JSON list of event names
    thresholds: Mapped[str] = mapped_column(Text)  # JSON list of days, for "expiring"
    owners: Mapped[bool] = mapped_column(default=True)
    security_team: Mapped[bool] = mapped_column(default=False)
    addresses: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of addresses
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(100))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Message(Base):
    __tablename__ = "notification_messages"
    __table_args__ = (
        # Listing newest first, filtered by state and/or channel.
        Index("ix_notification_messages_state_id", "state", "id"),
        Index("ix_notification_messages_channel_id_id", "channel_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key: a message stays in the history when its channel is deleted.
    channel_id: Mapped[int] = mapped_column(Integer)
    channel_name: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(254))
    event: Mapped[str] = mapped_column(String(32))
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(500))
    certificate_ids: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    state: Mapped[str] = mapped_column(String(16), default=MessageState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class LedgerEntry(Base):
    __tablename__ = "notification_ledger"
    __table_args__ = (
        UniqueConstraint(
            "subject",
            "event",
            "threshold",
            "channel_id",
            "recipient",
            name="uq_notification_ledger_notice",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(32))
    # Days for "expiring"; 0 for every other event (NOT NULL: NULLs never collide).
    threshold: Mapped[int] = mapped_column(Integer)
    channel_id: Mapped[int] = mapped_column(Integer)
    recipient: Mapped[str] = mapped_column(String(254))
    message_id: Mapped[int] = mapped_column(
        ForeignKey("notification_messages.id", ondelete="CASCADE"), index=True
    )
    # False: a threshold passed while Lemur was down, covered by a later (smaller) one's
    # notice in the same message and never sent on its own.
    sent: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Mute(Base):
    __tablename__ = "notification_mutes"

    certificate_id: Mapped[int] = mapped_column(
        ForeignKey("certificates.id", ondelete="CASCADE"), primary_key=True
    )
    muted_by: Mapped[str] = mapped_column(String(100))
    muted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(500), default="")


class EventCursor(Base):
    __tablename__ = "notification_cursor"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


CHANNELS = cast(Table, Channel.__table__)
RULES = cast(Table, Rule.__table__)
MESSAGES = cast(Table, Message.__table__)
LEDGER = cast(Table, LedgerEntry.__table__)
MUTES = cast(Table, Mute.__table__)
CURSOR = cast(Table, EventCursor.__table__)
