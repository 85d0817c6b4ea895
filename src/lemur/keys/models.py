from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from lemur.db import Base, UTCDateTime


class KeyringKey(Base):
    """A key id that has encrypted data here. Start-up refuses to serve when a key that
    is not retired is missing from the ring; rotation retires keys no data needs."""

    __tablename__ = "keyring_keys"

    kid: Mapped[str] = mapped_column(String(8), primary_key=True)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
