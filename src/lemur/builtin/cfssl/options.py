"""The options of the ``cfssl`` issuer: where ``cfssl serve`` (or ``multirootca``) listens,
whom to trust for its TLS certificate, which signer (label) and profile to use, and the
profile's auth key.

Validators check shapes only (no network, STYLE.md rule 4); their messages never repeat
a value, since a mistyped secret could be pasted into any field."""

from __future__ import annotations

import re

import httpx
from cryptography import x509
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# cfssl profile names and multirootca labels are keys of a JSON object; these are the
# characters people use in them. Anything else is more likely a paste error.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEX = re.compile(r"^[0-9A-Fa-f]+$")
MIN_KEY_BYTES = 16  # cfssl's examples use 16-byte keys; shorter ones are easy to guess


def check_base_url(value: str) -> str:
    """An absolute http(s) URL with a host and no credentials, query or fragment (a path
    is allowed for a cfssl behind a reverse proxy). Returned without a trailing slash."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("a URL has no spaces or control characters")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ValueError("not a URL") from None
    if url.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL (the base URL of cfssl serve)")
    if not url.host:
        raise ValueError("the URL has no host")
    if url.userinfo:
        raise ValueError("the URL must not carry a user name or password")
    if url.query or url.fragment:
        raise ValueError("the base URL has no query or fragment")
    if len(value) > 2048:
        raise ValueError("the URL is longer than 2048 characters")
    return value.rstrip("/")


class CFSSLOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        title="cfssl URL",
        description=(
            "Base URL of cfssl serve or multirootca, e.g. https://cfssl.example.com:8888 "
            "(Lemur adds /api/v1/cfssl/...)"
        ),
    )
    ca_bundle: str | None = Field(
        None,
        title="TLS CA bundle",
        description=(
            "PEM certificates to trust for the cfssl server's TLS certificate (https URLs "
            "whose certificate is not from a public CA). Empty: the system's CAs"
        ),
    )
    label: str | None = Field(
        None,
        title="Signer label",
        description="multirootca's label of the signer to use. Empty: the default signer",
    )
    profile: str | None = Field(
        None,
        title="Signing profile",
        description=(
            "Name of the signing profile in cfssl's configuration (its usages and expiry). "
            "Empty: cfssl's default profile"
        ),
    )
    auth_key: SecretStr | None = Field(
        None,
        title="Auth key (hex)",
        description=(
            "The profile's auth key, in hex as in cfssl's auth_keys (type standard). Set: "
            "requests are signed with HMAC-SHA256 and sent to /authsign. Secret"
        ),
    )
    timeout: float = Field(
        30.0, gt=0, le=120, title="Timeout", description="Seconds to wait for cfssl's answer"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_base_url(value)

    @field_validator("ca_bundle")
    @classmethod
    def _bundle(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            certificates = x509.load_pem_x509_certificates(value.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValueError("not PEM certificates (-----BEGIN CERTIFICATE-----)") from None
        if not certificates:
            raise ValueError("no certificate in the bundle")
        return value.strip() + "\n"

    @field_validator("label", "profile")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not _NAME.match(value):
            raise ValueError(
                "letters, digits, '.', '_' and '-' only, at most 64 characters, as in "
                "cfssl's configuration"
            )
        return value

    @field_validator("auth_key")
    @classmethod
    def _key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        key = value.get_secret_value().strip()
        if not key:
            return None
        if not _HEX.match(key) or len(key) % 2:
            raise ValueError("the auth key is hex digits (an even number of them), as cfssl has it")
        if len(key) < 2 * MIN_KEY_BYTES:
            raise ValueError(f"the auth key is shorter than {MIN_KEY_BYTES} bytes")
        return SecretStr(key)

    @model_validator(mode="after")
    def _bundle_needs_tls(self) -> CFSSLOptions:
        if self.ca_bundle is not None and not self.url.startswith("https://"):
            raise ValueError("a TLS CA bundle is for an https:// URL; this URL is plain http")
        return self
