"""Options of the ``acme`` issuer: where the ACME server is, how Lemur proves control of the
names (HTTP-01 served by Lemur itself, or DNS-01 through RFC 2136 updates signed with TSIG),
and the account that ``connect`` sets up."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")
TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1")


def _check_host(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        pass
    if len(value) > 253 or not _HOSTNAME.match(value):
        raise ValueError("not a host name or IP address")
    return value.rstrip(".").lower()


def _check_https_url(value: str) -> str:
    """An absolute https URL with a host (RFC 8555 §6.1: ACME runs over HTTPS only). The
    message never repeats the value."""
    if len(value) > 2048 or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("not a URL (spaces, control characters or longer than 2048)")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError("not a URL") from None
    if parts.scheme != "https":
        raise ValueError("must be an https:// URL (ACME runs over HTTPS only)")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    _check_host(parts.hostname)
    if port == 0:
        raise ValueError("the URL's port must be 1-65535")
    return value


def _check_email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("not an email address (name@example.com)")
    return value


def _check_zone(value: str) -> str:
    name = value.rstrip(".").lower()
    if not name or not _HOSTNAME.match(name):
        raise ValueError("not a DNS zone name (example.com)")
    return name


def _check_ca_bundle(value: str) -> str:
    try:
        certificates = x509.load_pem_x509_certificates(value.encode())
    except ValueError:
        raise ValueError("not PEM certificates (-----BEGIN CERTIFICATE-----)") from None
    if not certificates:
        raise ValueError("no certificate in the bundle")
    return value


def _decode_base64(value: str, *, urlsafe: bool) -> bytes:
    text = value.strip()
    padded = text + "=" * (-len(text) % 4)
    try:
        if urlsafe:
            if not re.fullmatch(r"[A-Za-z0-9_-]+=*", text):
                raise ValueError
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (ValueError, binascii.Error):
        raise ValueError("not valid base64" + ("url" if urlsafe else "")) from None


def _check_eab_key(value: SecretStr) -> SecretStr:
    if len(_decode_base64(value.get_secret_value(), urlsafe=True)) < 16:
        raise ValueError("the External Account Binding key is shorter than 16 bytes")
    return value


def _check_tsig_secret(value: SecretStr) -> SecretStr:
    if not _decode_base64(value.get_secret_value(), urlsafe=False):
        raise ValueError("the TSIG secret is empty")
    return value


def load_account_key(pem: str) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    """The account key from its PEM; raises ValueError in plain words (never echoing it)."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("not an unencrypted PEM private key") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in ("secp256r1", "secp384r1"):
        return key
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return key
    raise ValueError("the account key must be EC P-256, EC P-384 or RSA of 2048 bits or more")


def _check_account_key(value: SecretStr) -> SecretStr:
    load_account_key(value.get_secret_value())
    return value


HttpsURL = Annotated[str, AfterValidator(_check_https_url)]
Host = Annotated[str, AfterValidator(_check_host)]


class ACMEOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    directory_url: HttpsURL = Field(
        title="Directory URL",
        description="The ACME server's directory (RFC 8555 §7.1.1), e.g. "
        "https://acme-v02.api.letsencrypt.org/directory",
    )
    ca_bundle: Annotated[str, AfterValidator(_check_ca_bundle)] | None = Field(
        None,
        title="CA bundle",
        description="PEM certificates to trust for the directory's TLS instead of the system's "
        "(a private ACME server); empty: the system's trust store",
    )
    contact_email: Annotated[str, AfterValidator(_check_email)] | None = Field(
        None,
        title="Contact email",
        description="Where the CA sends notices about the account (expiry, incidents)",
    )
    agree_to_terms: bool = Field(
        False,
        title="Agree to the terms of service",
        description="You accept the CA's terms of service; must be true to register an account",
    )
    eab_kid: str | None = Field(
        None,
        title="EAB key ID",
        min_length=1,
        max_length=512,
        pattern=r"^[\x21-\x7e]+$",
        description="External Account Binding key identifier, from the CA (RFC 8555 §7.3.4); "
        "only for CAs that require it",
    )
    eab_hmac_key: Annotated[SecretStr, AfterValidator(_check_eab_key)] | None = Field(
        None,
        title="EAB HMAC key",
        description="External Account Binding MAC key from the CA, base64url-encoded; stored "
        "encrypted",
    )
    challenge: Literal["http-01", "dns-01"] = Field(
        "http-01",
        title="Challenge",
        description="How Lemur proves control of the names: http-01 (Lemur serves "
        "/.well-known/acme-challenge/ itself; no wildcards) or dns-01 (TXT records added "
        "through RFC 2136 dynamic updates; needed for wildcards)",
    )
    dns_server: Host | None = Field(
        None,
        title="DNS server",
        description="dns-01: the primary name server that accepts RFC 2136 updates for the zone",
    )
    dns_port: int = Field(53, ge=1, le=65535, title="DNS port", description="dns-01: its port")
    dns_zone: Annotated[str, AfterValidator(_check_zone)] | None = Field(
        None,
        title="DNS zone",
        description="dns-01: the zone the TXT records go into (example.com); every name of a "
        "certificate must be in it",
    )
    tsig_key_name: Annotated[str, AfterValidator(_check_zone)] | None = Field(
        None,
        title="TSIG key name",
        description="dns-01: the name of the TSIG key the server allows to update TXT records",
    )
    tsig_algorithm: Literal[
        "hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1"
    ] = Field("hmac-sha256", title="TSIG algorithm", description="dns-01: the key's algorithm")
    tsig_secret: Annotated[SecretStr, AfterValidator(_check_tsig_secret)] | None = Field(
        None,
        title="TSIG secret",
        description="dns-01: the TSIG key's secret, base64 as in BIND's key file; stored encrypted",
    )
    account_key: Annotated[SecretStr, AfterValidator(_check_account_key)] | None = Field(
        None,
        title="Account key",
        description="The ACME account's private key (PEM). Leave empty: connecting generates "
        "one (EC P-256) and registers the account; stored encrypted",
    )
    account_url: HttpsURL | None = Field(
        None,
        title="Account URL",
        description="The account's URL at the CA; set by connecting",
    )
    preferred_chain: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        title="Preferred chain",
        description="The common name of the root to chain up to when the CA offers "
        "alternate chains (RFC 8555 §7.4.2), e.g. ISRG Root X1; the CA's default chain when "
        "empty or when no chain ends there",
    )
    timeout: float = Field(
        10.0, gt=0, le=120, title="Timeout", description="Seconds to wait for each reply"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ACMEOptions:
        if (self.eab_kid is None) != (self.eab_hmac_key is None):
            raise ValueError("give both eab_kid and eab_hmac_key, or neither")
        if self.account_url is not None and self.account_key is None:
            raise ValueError("account_url needs the account_key it was registered with")
        if self.challenge == "dns-01":
            missing = [
                name
                for name in ("dns_server", "dns_zone", "tsig_key_name", "tsig_secret")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"dns-01 needs {', '.join(missing)}")
        return self
