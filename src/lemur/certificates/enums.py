"""Inventory vocabulary shared by the API and the CLI (kept free of heavy imports, so the
CLI starts fast)."""

import enum


class Status(enum.StrEnum):
    VALID = "valid"
    EXPIRING = "expiring"
    EXPIRED = "expired"
    REVOKED = "revoked"


class Origin(enum.StrEnum):
    """Where a certificate came from."""

    ISSUED = "issued"  # issued by an authority through Lemur
    IMPORTED = "imported"  # brought in by someone (PEM, DER, PKCS#12)
    DISCOVERED = "discovered"  # found by a source (a scan, a cloud account)


class SortKey(enum.StrEnum):
    NOT_AFTER = "not_after"
    NOT_BEFORE = "not_before"
    CREATED_AT = "created_at"
    COMMON_NAME = "common_name"
    ID = "id"
