"""A certificate's notifications on or off, as the certificate use cases see it.

A certificate's ``notify`` setting is the notification mute of lemur.notifications (one
mechanism, also reached through PUT/DELETE /api/v1/certificates/{id}/mute): notifications
are off while the certificate is muted. The mutes' table belongs to lemur.notifications,
which depends on this package; so this package states what it needs as a protocol, and
lemur.notifications.mutes implements it (wired in lemur.services), as lemur.authorities
does for the certificate inventory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.orm import Session


@dataclass(frozen=True)
class MuteState:
    """A certificate's mute: notifications about it are off."""

    muted_by: str
    muted_at: dt.datetime
    reason: str


class MuteRegister(Protocol):
    def state(self, session: Session, certificate_id: int) -> MuteState | None:
        """The certificate's mute, or None when its notifications are on (one statement)."""
        ...

    def mute(
        self, session: Session, certificate_id: int, *, by: str, at: dt.datetime, reason: str
    ) -> None:
        """Mute a certificate that is not muted, in the session's transaction."""
        ...

    def unmute(self, session: Session, certificate_id: int) -> None:
        """Remove a certificate's mute, if any, in the session's transaction."""
        ...
