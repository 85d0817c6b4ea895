"""Errors of issuance in the request's terms: the crypto layer and issuer plugins name their
own parameters (``public_key``, ``not_after``, a name the CA may not certify); the API and the
request form both report them as the request's fields, through this one mapping."""

from __future__ import annotations

import ipaddress

from lemur.certificates.schemas import CertificateRequest
from lemur.crypto.name_constraints import NameNotPermitted
from lemur.crypto.names import normalize_dns_name
from lemur.errors import InvalidInput

# Parameters of the crypto layer and issuer plugins, as the request names them.
_ISSUE_FIELDS = {
    "public_key": "key_type",
    "subject_cn": "common_name",
    "not_before": "validity_days",
    "not_after": "validity_days",
}
_FROM_CSR = {"key_type", "common_name"}


def name_field(body: CertificateRequest, exc: NameNotPermitted) -> str:
    """The request field a (normalised) name came from."""
    sans = body.subject_alternative_names
    if exc.kind == "dns":
        for index, raw in enumerate(sans.dns_names):
            try:
                if normalize_dns_name(raw) == exc.name:
                    return f"subject_alternative_names.dns_names[{index}]"
            except InvalidInput:
                continue
        if body.common_name and body.common_name.strip().lower().rstrip(".") == exc.name:
            return "common_name"
        return "subject_alternative_names.dns_names"
    for index, raw in enumerate(sans.ip_addresses):
        try:
            if str(ipaddress.ip_address(raw.strip("[] "))) == exc.name:
                return f"subject_alternative_names.ip_addresses[{index}]"
        except ValueError:
            continue
    return "subject_alternative_names.ip_addresses"


def issue_error(exc: InvalidInput, body: CertificateRequest) -> InvalidInput:
    """The error with its field in this request's terms."""
    if isinstance(exc, NameNotPermitted):
        field = "csr" if body.csr is not None else name_field(body, exc)
    elif exc.field in _ISSUE_FIELDS:
        field = _ISSUE_FIELDS[exc.field]
        if body.csr is not None and field in _FROM_CSR:
            field = "csr"
    else:
        return exc
    return InvalidInput(exc.message, code=exc.code, field=field)
