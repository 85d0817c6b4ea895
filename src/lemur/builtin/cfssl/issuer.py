"""``cfssl``: certificates from CloudFlare's CFSSL (``cfssl serve`` or ``multirootca``).

Issuing sends Lemur's CSR to ``/sign`` (``/authsign`` when an auth key is set) with
``hosts`` set to the request's names, which replaces the CSR's SANs, so the CA issues
exactly the requested names. cfssl chooses the validity from its profile (cfssl 1.2 ignores
a requested not_before/not_after; later versions honour the ones Lemur sends). Lemur checks
what comes back: the key, the names, and the extended key usages the request's profile
needs (cfssl silently falls back to its default profile for a profile name it does not
know). The chain is the CA certificate ``/info`` reports.

Revoking needs cfssl's certificate database (``cfssl serve -db-config``): ``/revoke``
marks the certdb row revoked, and cfssl's CRL and OCSP tooling read it from there.
"""

from __future__ import annotations

import contextlib
import datetime as dt

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from lemur.builtin.cfssl.client import (
    CFSSLRefused,
    JSONObject,
    Refusal,
    auth_error,
    call,
    http_client,
    signed_request,
)
from lemur.builtin.cfssl.options import CFSSLOptions
from lemur.crypto.keys import public_keys_equal
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import extended_key_usage
from lemur.crypto.usages import extended_key_usage_names, joined
from lemur.plugins.base import Connector, Issuer, Revoker
from lemur.plugins.errors import PluginConfigurationError, PluginRejected, PluginTransientError
from lemur.plugins.values import (
    Connection,
    IssuanceRequest,
    Issued,
    Pending,
    RevocationRequest,
)

# cfssl's certdb answer when /revoke finds no row (certdb/sql: "certificate not found").
_NOT_FOUND = "certificate not found"
# cfssl error codes are category * 1000 + reason; category 11 is its certificate database
# (errors/error.go CertStoreError).
_CERTDB_ERRORS = 11
# Sent as the CSR when connecting: cfssl checks authentication before decoding the CSR.
_NOT_A_CSR = "lemur-connection-check"


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _certificates(text: object) -> list[x509.Certificate]:
    if not isinstance(text, str) or not text.strip():
        return []
    try:
        return x509.load_pem_x509_certificates(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return []


def _sans(certificate: x509.Certificate) -> SubjectAltNames:
    try:
        ext = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return SubjectAltNames()
    return SubjectAltNames.from_extension(ext.value)


def _names(sans: SubjectAltNames) -> list[str]:
    return sorted(
        [n.lower() for n in sans.dns_names]
        + [str(ip) for ip in sans.ip_addresses]
        + [e.lower() for e in sans.emails]
        + list(sans.uris)
    )


def _eku_names(oids: set[x509.ObjectIdentifier]) -> str:
    named = extended_key_usage_names(x509.ExtendedKeyUsage(sorted(oids, key=str)))
    return joined(str(name) for name in named) if named else joined(map(str, oids))


class CFSSLIssuer(Issuer[CFSSLOptions], Revoker, Connector):
    slug = "cfssl"
    title = "CFSSL"
    description = """
        Certificates from a CFSSL CA (cfssl serve or multirootca): Lemur sends its CSR to
        /sign, or /authsign with an auth key, using one of the CA's signing profiles.
        Revocation needs cfssl's certificate database (cfssl serve -db-config).
    """
    Options = CFSSLOptions

    @property
    def _host(self) -> str:
        return httpx.URL(self.options.url).host

    def _client(self) -> contextlib.AbstractContextManager[httpx.Client]:
        return http_client(self.context, self.options.ca_bundle)

    def _post(self, client: httpx.Client, endpoint: str, body: JSONObject) -> JSONObject:
        return call(client, self.options.url, endpoint, body, timeout=self.options.timeout)

    def _selector(self) -> JSONObject:
        body: JSONObject = {}
        if self.options.label:
            body["label"] = self.options.label
        if self.options.profile:
            body["profile"] = self.options.profile
        return body

    def _sign(self, client: httpx.Client, body: JSONObject) -> JSONObject:
        """``/sign``, or ``/authsign`` with the signed envelope when an auth key is set.
        Raises CFSSLRefused for cfssl's other refusals, a configuration error for the
        authentication ones."""
        key = self.options.auth_key
        try:
            if key is None:
                return self._post(client, "sign", body)
            return self._post(client, "authsign", signed_request(body, key.get_secret_value()))
        except PluginConfigurationError as exc:
            if key is None and exc.code == "cfssl_endpoint_missing":
                # multirootca serves /info and /authsign only.
                raise PluginConfigurationError(
                    f"cfssl at {self._host} has no /sign endpoint: multirootca signs only with "
                    "an auth key (set options.auth_key); otherwise check options.url",
                    code="cfssl_endpoint_missing",
                    field="options.auth_key" if self.options.label else "options.url",
                ) from None
            raise
        except CFSSLRefused as exc:
            translated = auth_error(exc.refusal, self.options.profile)
            if translated is not None:
                raise translated from None
            raise

    def issue(self, request: IssuanceRequest) -> Issued | Pending:
        """Sign ``request.csr`` with the options' profile; the chain is the CA from /info.

        Raises PluginRejected with cfssl's reason when it refuses (a name outside the
        profile's whitelist, a CSR it cannot read) or when the certificate is not what was
        asked for; PluginConfigurationError for a wrong auth key or a profile whose usages
        do not fit the request; PluginTransientError when cfssl cannot be reached."""
        if request.csr is None:
            raise PluginRejected(
                "the cfssl issuer signs a CSR and the request has none", code="csr_required"
            )
        if request.sans.uris:
            # cfssl 1.2 turns every host it cannot parse as an IP or email into a DNS name,
            # which would certify "spiffe://..." as a host name.
            raise PluginRejected(
                "the cfssl issuer cannot request URI names (cfssl would issue them as DNS "
                "names); remove the URIs or use another authority",
                code="cfssl_uri_names_unsupported",
            )
        body: JSONObject = {
            "certificate_request": request.csr.public_bytes(Encoding.PEM).decode("ascii"),
            "hosts": [
                *request.sans.dns_names,
                *(str(ip) for ip in request.sans.ip_addresses),
                *request.sans.emails,
            ],
            "not_before": _rfc3339(request.not_before),
            "not_after": _rfc3339(request.not_after),
            **self._selector(),
        }
        with self._client() as client:
            try:
                result = self._sign(client, body)
            except CFSSLRefused as exc:
                if exc.refusal.code is not None and exc.refusal.code // 1000 == _CERTDB_ERRORS:
                    # The CA's own database failed (cfssl still answers 400): not this
                    # request's fault, and it may work once the operator fixes it.
                    raise PluginTransientError(
                        f"cfssl could not record the certificate in its database: "
                        f"{exc.refusal.message}",
                        code="cfssl_database_error",
                    ) from None
                raise PluginRejected(
                    f"cfssl refused the request: {exc.refusal.message}", code="cfssl_refused"
                ) from None
            certificate = self._certificate(result, request)
            chain = self._info(client)[0]
        try:
            certificate.verify_directly_issued_by(chain[0])
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise PluginConfigurationError(
                f"cfssl's /info names {chain[0].subject.rfc4514_string()} as the CA, but the "
                "certificate was signed by another; check options.label",
                code="cfssl_chain_mismatch",
                field="options.label",
            ) from exc
        serial = str(certificate.serial_number)
        self.context.logger.info("cfssl at %s issued serial %s", self._host, serial)
        return Issued(certificate=certificate, chain=chain, external_id=serial)

    def _certificate(self, result: JSONObject, request: IssuanceRequest) -> x509.Certificate:
        issued = _certificates(result.get("certificate"))
        if not issued:
            raise PluginRejected(
                f"cfssl at {self._host} answered without a certificate", code="cfssl_no_certificate"
            )
        self._check(issued[0], request)
        return issued[0]

    def _check(self, certificate: x509.Certificate, request: IssuanceRequest) -> None:
        if not public_keys_equal(certificate.public_key(), request.public_key):
            raise PluginRejected(
                "cfssl returned a certificate for another public key than the request's",
                code="cfssl_wrong_key",
            )
        got, wanted = _names(_sans(certificate)), _names(request.sans)
        if got != wanted:
            raise PluginRejected(
                f"cfssl issued the names {', '.join(got) or 'none'} instead of "
                f"{', '.join(wanted) or 'none'}",
                code="cfssl_wrong_names",
            )
        common_names = [
            str(a.value) for a in certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ]
        expected = [] if request.common_name is None else [request.common_name]
        if common_names != expected:
            raise PluginRejected(
                f"cfssl issued the common name {', '.join(common_names) or 'none'} instead "
                f"of {', '.join(expected) or 'none'}",
                code="cfssl_wrong_names",
            )
        wanted_usages = set(
            [u.oid for u in request.extended_key_usage]
            if request.extended_key_usage is not None
            else extended_key_usage(request.profile)
        )
        try:
            usages = set(
                certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
            )
        except x509.ExtensionNotFound:
            usages = set()
        missing = wanted_usages - usages
        if missing:
            named = f"'{self.options.profile}'" if self.options.profile else "(default)"
            raise PluginConfigurationError(
                f"the cfssl profile {named} issued a certificate without {_eku_names(missing)}, "
                "which this request needs; set options.profile to a profile with those usages",
                code="cfssl_profile_mismatch",
                field="options.profile",
            )

    def _info(self, client: httpx.Client) -> tuple[tuple[x509.Certificate, ...], JSONObject]:
        """/info for the label and profile: the CA certificates it reports (issuing CA
        first) and its whole result. Raises PluginRejected when cfssl refuses,
        PluginConfigurationError when it reports no CA certificate."""
        try:
            result = self._post(client, "info", self._selector())
        except CFSSLRefused as exc:
            said = exc.refusal.message
            if "label" in said.lower():  # multirootca: "bad label"
                raise PluginConfigurationError(
                    f"cfssl does not know the signer label '{self.options.label}' ({said})",
                    code="cfssl_unknown_label",
                    field="options.label",
                ) from None
            raise PluginRejected(
                f"cfssl refused to describe its CA: {said}", code="cfssl_refused"
            ) from None
        found: list[x509.Certificate] = []
        for key in ("certificate", "bundle"):
            for certificate in _certificates(result.get(key)):
                if certificate not in found:
                    found.append(certificate)
        if not found:
            raise PluginConfigurationError(
                f"cfssl at {self._host} reported no CA certificate; check options.url and "
                "options.label",
                code="cfssl_no_ca",
                field="options.url",
            )
        return tuple(found), result

    def connect(self) -> Connection:
        """``/info`` for the label and profile (the CA certificate, the profile's usages),
        then a signing request whose "CSR" is not one: cfssl checks the authentication
        first (the auth key's token, or that the profile needs none) and then refuses to
        decode it, so the options are tried without anything being issued."""
        with self._client() as client:
            chain, result = self._info(client)
            self._check_authentication(client)
        usages = result.get("usages")
        expiry = result.get("expiry")
        profile = f"profile '{self.options.profile}'" if self.options.profile else "default profile"
        summary = (
            f"cfssl at {self._host} reachable; CA {chain[0].subject.rfc4514_string()}; {profile}"
        )
        if isinstance(usages, list) and usages:
            summary += f" ({', '.join(map(str, usages))}"
            summary += f"; expiry {expiry})" if isinstance(expiry, str) else ")"
        summary += "; auth key accepted" if self.options.auth_key else "; no auth key needed"
        return Connection(summary=summary, chain=chain)

    def _check_authentication(self, client: httpx.Client) -> None:
        try:
            self._sign(client, {"certificate_request": _NOT_A_CSR, **self._selector()})
        except CFSSLRefused:
            return  # authentication passed; cfssl then could not decode the "CSR", as intended
        raise PluginRejected(  # pragma: no cover - cfssl never signs what is not a CSR
            "cfssl signed a request that carried no CSR", code="cfssl_unexpected"
        )

    def revoke(self, request: RevocationRequest) -> None:
        """``/revoke`` by serial and authority key identifier (the certdb's key).

        cfssl 1.2 records an empty authority key identifier for what it signs, later
        versions the hex one: the hex one is tried first, the empty one when cfssl has no
        such row. Raises PluginRejected when cfssl cannot revoke (no certificate database)
        or does not know the certificate, PluginTransientError when unreachable."""
        certificate = request.certificate
        try:
            aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
            identifiers = [(aki.value.key_identifier or b"").hex(), ""]
        except x509.ExtensionNotFound:
            identifiers = [""]
        refusal: Refusal | None = None
        with self._client() as client:
            for identifier in dict.fromkeys(identifiers):
                refusal = self._revoke(client, certificate, identifier, request)
                if refusal is None:
                    self.context.logger.info(
                        "cfssl at %s revoked serial %s (%s)",
                        self._host,
                        certificate.serial_number,
                        request.reason.rfc5280_name,
                    )
                    return
                if _NOT_FOUND not in refusal.message.lower():
                    break
        assert refusal is not None
        raise PluginRejected(
            f"cfssl refused the revocation: {refusal.message}", code="cfssl_refused"
        )

    def _revoke(
        self,
        client: httpx.Client,
        certificate: x509.Certificate,
        identifier: str,
        request: RevocationRequest,
    ) -> Refusal | None:
        """One /revoke call: None when cfssl revoked, else its refusal."""
        body: JSONObject = {
            "serial": str(certificate.serial_number),
            "authority_key_id": identifier,
            "reason": request.reason.rfc5280_name,
        }
        try:
            self._post(client, "revoke", body)
        except CFSSLRefused as exc:
            return exc.refusal
        except PluginConfigurationError as exc:
            if exc.code != "cfssl_endpoint_missing":
                raise
            raise PluginRejected(
                f"cfssl at {self._host} cannot revoke: its /revoke endpoint is off "
                "(cfssl serve runs without -db-config, its certificate database)",
                code="cfssl_revocation_unavailable",
            ) from None
        return None
