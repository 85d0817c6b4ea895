"""The unit of work a service runs in: a read phase, then one write transaction.

A caller (an API handler, a CLI command, the first-start bootstrap, later a job) builds one
per use case through the service factory and hands it to the service. The service reads
through :attr:`UnitOfWork.read` (autocommit: no transaction held, no lock taken), does its
slow work (key generation, signing, encryption) outside any transaction, and writes in
``with uow.write() as tx:``, which commits when the block ends and rolls back when it
raises. Services never call commit or rollback themselves, so a caller never has to know
which service commits: none does, the unit of work does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from sqlalchemy.orm import Session

from lemur.db.database import Database, pipelined


class WriteTransaction:
    """The open write transaction: its session (SQLite ``BEGIN IMMEDIATE``; on PostgreSQL
    bound to one connection until the block ends, as the pipeline needs)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.committed = False

    @contextmanager
    def commit_pipelined(self) -> Iterator[None]:
        """Run the statements inside, then the commit, as one PostgreSQL pipeline: one
        round trip for all of them (docs/decisions/0008). Their results cannot be read, and
        an error in any of them surfaces at the commit, which then fails whole. This ends
        the transaction: nothing may be written after it. On SQLite, plain statements and
        a commit."""
        with pipelined(self.session):
            yield
            self.session.commit()
        self.committed = True


class UnitOfWork:
    """A read session for the read phase and :meth:`write` for the one write transaction.

    ``read`` may be a session the caller already holds (a request's read session, shared
    with authentication); otherwise one is opened on first use and closed by
    :meth:`close`."""

    def __init__(self, db: Database, *, read: Session | None = None) -> None:
        self._db = db
        self._read = read
        self._owned = ExitStack()

    @property
    def dialect(self) -> str:
        return self._db.dialect

    @property
    def read(self) -> Session:
        """The read session (autocommit: each statement sees what is committed)."""
        if self._read is None:
            self._read = self._owned.enter_context(self._db.read())
        return self._read

    @contextmanager
    def write(self) -> Iterator[WriteTransaction]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        with self._db.write_held() as session:
            tx = WriteTransaction(session)
            try:
                yield tx
                if not tx.committed:
                    session.commit()
                    tx.committed = True
            except BaseException:
                if not tx.committed:
                    session.rollback()
                raise

    def close(self) -> None:
        self._owned.close()

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
