"""The in-memory record an issuance answers from mirrors the certificates table."""

from __future__ import annotations

import dataclasses

from lemur.certificates.models import Certificate, WrittenCertificate


def test_written_certificate_has_exactly_the_columns_and_the_names() -> None:
    fields = {f.name for f in dataclasses.fields(WrittenCertificate)}
    columns = {c.key for c in Certificate.__table__.columns}
    assert fields == columns | {"names"}
