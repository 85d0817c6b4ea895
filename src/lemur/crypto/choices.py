"""What a requester may choose for a leaf besides its names and key, checked against what
its authority allows: one function for the request (API and web form alike) and one for a new
authority's allowances. The rules themselves live in :mod:`lemur.crypto.subjects` and
:mod:`lemur.crypto.usages`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lemur.crypto.keys import PublicKey
from lemur.crypto.subjects import (
    CAB_FORUM_SUBJECT_FIELDS,
    LeafSubject,
    SubjectField,
    check_cab_forum_subject,
)
from lemur.crypto.usages import (
    CAB_FORUM_EXTENDED_KEY_USAGES,
    ExtendedKeyUsageName,
    KeyUsageName,
    check_key_usage,
    joined,
)
from lemur.errors import InvalidInput


def check_leaf_choices(
    *,
    authority_name: str,
    subject: LeafSubject,
    key_usage: Sequence[KeyUsageName] | None,
    extended_key_usage: Sequence[ExtendedKeyUsageName] | None,
    public_key: PublicKey,
    allowed_subject_fields: Iterable[SubjectField],
    allowed_extended_key_usages: Iterable[ExtendedKeyUsageName],
    cab_forum: bool,
) -> None:
    """Refuse what the authority does not allow (its name is in those messages), what the
    key cannot do, and (under ``cab_forum``) what the Baseline Requirements forbid. ``None`` usages mean the profile's
    defaults, which need no check. Raises InvalidInput naming the entry at fault
    (``subject_field_not_allowed``, ``extended_key_usage_not_allowed``,
    ``key_usage_not_allowed``, ``duplicate_usage``, ``invalid_usage_combination``,
    ``subject_incomplete``)."""
    allowed_fields = tuple(allowed_subject_fields)
    for field in subject.fields:
        if cab_forum and field not in CAB_FORUM_SUBJECT_FIELDS:
            check_cab_forum_subject(subject)  # names the BR rule
        if field not in allowed_fields:
            raise InvalidInput(
                f"authority '{authority_name}' does not allow the {field.label} in a subject; "
                f"the subject fields it allows: {joined(allowed_fields)}",
                code="subject_field_not_allowed",
                field=f"subject.{field.value}",
            )
    if cab_forum:
        check_cab_forum_subject(subject)
    if extended_key_usage is not None:
        allowed_ekus = tuple(allowed_extended_key_usages)
        for index, usage in enumerate(extended_key_usage):
            if usage in extended_key_usage[:index]:
                raise InvalidInput(
                    f"'{usage}' is listed twice",
                    code="duplicate_usage",
                    field=f"extended_key_usage[{index}]",
                )
            if cab_forum and usage not in CAB_FORUM_EXTENDED_KEY_USAGES:
                raise InvalidInput(
                    f"publicly trusted TLS certificates are not for {usage} (CA/B Forum BR "
                    f"§7.1.2.7.10); allowed: {joined(CAB_FORUM_EXTENDED_KEY_USAGES)}",
                    code="extended_key_usage_not_allowed",
                    field=f"extended_key_usage[{index}]",
                )
            if usage not in allowed_ekus:
                raise InvalidInput(
                    f"authority '{authority_name}' does not issue certificates for {usage}; "
                    f"the extended key usages it allows: {joined(allowed_ekus)}",
                    code="extended_key_usage_not_allowed",
                    field=f"extended_key_usage[{index}]",
                )
        if ExtendedKeyUsageName.TIME_STAMPING in extended_key_usage and len(extended_key_usage) > 1:
            raise InvalidInput(
                "a time-stamping certificate has time_stamping as its only extended key usage "
                "(RFC 3161 §2.3)",
                code="invalid_usage_combination",
                field="extended_key_usage",
            )
        if cab_forum and ExtendedKeyUsageName.SERVER_AUTH not in extended_key_usage:
            raise InvalidInput(
                "a publicly trusted TLS certificate includes server_auth (CA/B Forum BR "
                "§7.1.2.7.10)",
                code="extended_key_usage_required",
                field="extended_key_usage",
            )
    if key_usage is not None:
        check_key_usage(key_usage, public_key, cab_forum=cab_forum)


def check_authority_choices(
    *,
    cab_forum: bool,
    subject_fields: Sequence[SubjectField],
    extended_key_usages: Sequence[ExtendedKeyUsageName],
) -> None:
    """What a new authority may allow: under ``cab_forum`` no OU and no purposes beyond
    server_auth and client_auth, with server_auth among them. Raises InvalidInput naming
    ``allowed_subject_fields[i]`` or ``allowed_extended_key_usages[i]``."""
    for index, field in enumerate(subject_fields):
        if cab_forum and field not in CAB_FORUM_SUBJECT_FIELDS:
            raise InvalidInput(
                f"a CA/B Forum authority cannot allow an {field.label}: the Baseline "
                "Requirements prohibit it in TLS certificates (BR §7.1.2.7.4)",
                code="subject_field_not_allowed",
                field=f"allowed_subject_fields[{index}]",
            )
    for index, usage in enumerate(extended_key_usages):
        if cab_forum and usage not in CAB_FORUM_EXTENDED_KEY_USAGES:
            raise InvalidInput(
                f"a CA/B Forum authority issues TLS certificates only: {usage} is not allowed "
                f"(BR §7.1.2.7.10); allowed: {joined(CAB_FORUM_EXTENDED_KEY_USAGES)}",
                code="extended_key_usage_not_allowed",
                field=f"allowed_extended_key_usages[{index}]",
            )
    if cab_forum and ExtendedKeyUsageName.SERVER_AUTH not in extended_key_usages:
        raise InvalidInput(
            "a CA/B Forum authority issues TLS server certificates: allow server_auth",
            code="extended_key_usage_required",
            field="allowed_extended_key_usages",
        )
    if not extended_key_usages:
        raise InvalidInput(
            "allow at least one extended key usage",
            code="extended_key_usage_required",
            field="allowed_extended_key_usages",
        )
