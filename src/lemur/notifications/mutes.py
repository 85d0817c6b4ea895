"""The mutes' table behind a certificate's ``notify`` setting (the MuteRegister protocol of
lemur.certificates.mutes): the certificate edit writes the same rows as PUT/DELETE
/api/v1/certificates/{id}/mute."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from lemur.certificates.mutes import MuteState
from lemur.notifications.models import MUTES


class MuteTable:
    def state(self, session: Session, certificate_id: int) -> MuteState | None:
        row = session.execute(
            select(MUTES.c.muted_by, MUTES.c.muted_at, MUTES.c.reason).where(
                MUTES.c.certificate_id == certificate_id
            )
        ).first()
        return None if row is None else MuteState(row.muted_by, row.muted_at, row.reason)

    def mute(
        self, session: Session, certificate_id: int, *, by: str, at: dt.datetime, reason: str
    ) -> None:
        session.execute(
            insert(MUTES).values(
                certificate_id=certificate_id, muted_by=by, muted_at=at, reason=reason
            )
        )

    def unmute(self, session: Session, certificate_id: int) -> None:
        session.execute(delete(MUTES).where(MUTES.c.certificate_id == certificate_id))
