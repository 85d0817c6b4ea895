"""Lemur's answers to ACME HTTP-01 challenges (RFC 8555 §8.3), kept in the database.

The acme issuer publishes a key authorization while an order is validated; every Lemur web
process serves it at ``/.well-known/acme-challenge/{token}`` (lemur.orders.challenges), so
a name whose port 80 reaches Lemur validates without any other web server. In the
database, because the worker that places the order and the web process the CA asks are
different processes.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import delete
from sqlalchemy.orm import Session

from lemur.clock import Clock
from lemur.db import Database
from lemur.orders.models import AcmeChallenge

# RFC 8555 §8.3: the token is base64url; at least 128 bits of entropy.
TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,255}$")
# Answers left over from orders that never finished are removed after this long.
MAX_AGE = dt.timedelta(days=1)


class DatabaseChallenges:
    """The ChallengeResponder of lemur.plugins.values, in the database."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    def publish(self, token: str, content: str) -> None:
        if not TOKEN.match(token) or len(content) > 1024:
            raise ValueError("an ACME token is base64url, 16 to 255 characters")
        with self._db.write() as session:
            session.execute(delete(AcmeChallenge).where(AcmeChallenge.token == token))
            session.add(AcmeChallenge(token=token, content=content, created_at=self._clock.now()))
            session.commit()

    def withdraw(self, token: str) -> None:
        with self._db.write() as session:
            session.execute(delete(AcmeChallenge).where(AcmeChallenge.token == token))
            session.commit()


def remove_stale(session: Session, now: dt.datetime) -> int:
    """Delete answers older than a day (maintenance.cleanup); how many went."""
    done = session.execute(delete(AcmeChallenge).where(AcmeChallenge.created_at < now - MAX_AGE))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]
