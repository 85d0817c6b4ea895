"""The ACME account (RFC 8555 §7.3): found by its key, or registered."""

from __future__ import annotations

from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from josepy.jwk import JWK

from lemur.builtin.acme.client import Redactor
from lemur.builtin.acme.options import ACMEOptions
from lemur.plugins.errors import PluginConfigurationError, PluginRejected


def register(client: acme_client.ClientV2, key: JWK, options: ACMEOptions, redact: Redactor) -> str:
    """Register a new account for ``key`` (§7.3) with the contact, the agreement to the
    terms and External Account Binding (§7.3.4); returns its URL (an existing account's
    when the key has one)."""
    meta = client.directory.meta
    terms = getattr(meta, "terms_of_service", None)
    if not options.agree_to_terms:
        raise PluginConfigurationError(
            "registering an account means accepting the CA's terms of service"
            + (f" ({terms})" if terms else "")
            + ": set agree_to_terms to true",
            code="acme_terms_not_agreed",
            field="options.agree_to_terms",
        )
    eab = None
    if options.eab_kid is not None and options.eab_hmac_key is not None:
        eab = messages.ExternalAccountBinding.from_data(
            account_public_key=key.public_key(),
            kid=options.eab_kid,
            hmac_key=options.eab_hmac_key.get_secret_value(),
            directory=client.directory,
        )
    elif client.external_account_required():
        raise PluginConfigurationError(
            "the CA requires External Account Binding: set eab_kid and eab_hmac_key from the CA",
            code="acme_eab_required",
            field="options.eab_kid",
        )
    registration = messages.NewRegistration.from_data(
        email=options.contact_email,
        terms_of_service_agreed=True,
        external_account_binding=eab,
    )
    try:
        regr = client.new_account(registration)
    except acme_errors.ConflictError as exc:
        return str(exc.location)
    except messages.Error as exc:
        if eab is not None and exc.code in ("unauthorized", "malformed", "badSignature"):
            raise PluginRejected(
                f"the CA refused the External Account Binding for key ID "
                f"{options.eab_kid}: {redact(exc.detail or exc.code or '')} (check "
                "eab_kid and eab_hmac_key)",
                code="acme_eab_refused",
            ) from None
        raise
    return str(regr.uri)


def existing_account(client: acme_client.ClientV2) -> str | None:
    """The URL of the account of the client's key (§7.3.1 onlyReturnExisting), or None."""
    client.net.account = None
    try:
        response = client.net.post(
            client.directory["newAccount"],
            messages.NewRegistration(only_return_existing=True),
            new_nonce_url=client.directory["newNonce"],
        )
    except messages.Error as exc:
        if exc.code == "accountDoesNotExist":
            return None
        raise
    location = response.headers.get("Location")
    return str(location) if location else None


def new_account_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
