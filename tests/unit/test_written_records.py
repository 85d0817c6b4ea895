"""The in-memory records an issuance answers from mirror the tables they were written to."""

from __future__ import annotations

import dataclasses

from lemur.audit.models import AuditEvent
from lemur.audit.service import AppendedEvent
from lemur.certificates.models import Certificate, WrittenCertificate


def test_written_certificate_has_exactly_the_columns_and_the_names() -> None:
    fields = {f.name for f in dataclasses.fields(WrittenCertificate)}
    columns = {c.key for c in Certificate.__table__.columns}
    assert fields == columns | {"names"}


def test_appended_event_has_exactly_the_audit_columns() -> None:
    fields = {f.name for f in dataclasses.fields(AppendedEvent)}
    assert fields == {c.key for c in AuditEvent.__table__.columns}
