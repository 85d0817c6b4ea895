"""What a pending request keeps of the checked request, to hand the issuer the same
IssuanceRequest with every poll, and the CSR Lemur makes for a key it generated."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lemur.crypto.keys import KeySpec, PrivateKey
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import Profile, signature_hash
from lemur.crypto.subjects import LeafSubject
from lemur.crypto.usages import ExtendedKeyUsageName, KeyUsageName
from lemur.plugins.values import IssuanceRequest


def make_csr(
    private_key: PrivateKey, common_name: str | None, sans: SubjectAltNames, subject: LeafSubject
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for the names, signed by the key Lemur generated (RFC 2986)."""
    attributes = subject.attributes()
    if common_name:
        attributes.append(x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if sans.general_names():
        builder = builder.add_extension(sans.to_extension(), critical=not attributes)
    return builder.sign(private_key, signature_hash(private_key))


def dump_spec(request: IssuanceRequest) -> str:
    """The request as the pending row keeps it (everything but the key and the CSR)."""
    sans = request.sans
    return json.dumps(
        {
            "common_name": request.common_name,
            "dns_names": list(sans.dns_names),
            "ip_addresses": [str(ip) for ip in sans.ip_addresses],
            "emails": list(sans.emails),
            "uris": list(sans.uris),
            "profile": request.profile.value,
            "key_spec": request.key_spec.value,
            "not_before": request.not_before.isoformat(),
            "not_after": request.not_after.isoformat(),
            "subject": {f.value: request.subject.value(f) for f in request.subject.fields},
            "key_usage": None if request.key_usage is None else list(request.key_usage),
            "extended_key_usage": None
            if request.extended_key_usage is None
            else list(request.extended_key_usage),
        },
        sort_keys=True,
    )


def load_spec(spec: str, csr_pem: str) -> IssuanceRequest:
    """The IssuanceRequest a pending row was created from."""
    data: dict[str, Any] = json.loads(spec)
    csr = x509.load_pem_x509_csr(csr_pem.encode("ascii"))
    public_key = csr.public_key()
    key_usage = data.get("key_usage")
    extended = data.get("extended_key_usage")
    return IssuanceRequest(
        public_key=public_key,  # type: ignore[arg-type]
        key_spec=KeySpec(data["key_spec"]),
        common_name=data.get("common_name"),
        sans=SubjectAltNames(
            dns_names=tuple(data.get("dns_names", ())),
            ip_addresses=SubjectAltNames.create(
                ip_addresses=data.get("ip_addresses", ())
            ).ip_addresses,
            emails=tuple(data.get("emails", ())),
            uris=tuple(data.get("uris", ())),
        ),
        profile=Profile(data["profile"]),
        not_before=dt.datetime.fromisoformat(data["not_before"]),
        not_after=dt.datetime.fromisoformat(data["not_after"]),
        subject=LeafSubject(**data.get("subject", {})),
        key_usage=None if key_usage is None else tuple(KeyUsageName(k) for k in key_usage),
        extended_key_usage=None
        if extended is None
        else tuple(ExtendedKeyUsageName(k) for k in extended),
        csr=csr,
    )


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
