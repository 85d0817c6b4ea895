"""First-party exporters: PEM, DER, PKCS#7, PKCS#8, PKCS#12 and Java KeyStores (JKS).

Exporters are pure serialisers. Authorisation and the audit event for exports that contain
the private key are the export service's job; ``includes_private_key`` tells it which ones
do. Messages never contain the passphrase.
"""

from __future__ import annotations

import re

from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from lemur.crypto.export import der_certificate, pem_bundle, pkcs12_bundle
from lemur.crypto.jks import jks_keystore, jks_truststore
from lemur.crypto.keys import PrivateKey, check_key_matches_certificate, private_key_to_pem
from lemur.crypto.parsing import certificates_to_pem
from lemur.errors import InvalidInput
from lemur.plugins.base import Exporter, NoOptions
from lemur.plugins.errors import PluginRejected
from lemur.plugins.values import Bundle, Exported

# cryptography's BestAvailableEncryption and PKCS#12 encryption accept 1..1023 bytes.
MAX_PASSPHRASE_BYTES = 1023
PEM_CHAIN = "application/pem-certificate-chain"  # RFC 8555 §9.1
PEM_FILE = "application/x-pem-file"
JAVA_KEYSTORE = "application/x-java-keystore"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, suffix: str) -> str:
    """A plain file name from a certificate name: ``*.example.com`` ->
    ``wildcard.example.com`` + suffix; no path separators, no leading dot."""
    stem = _UNSAFE.sub("_", name.replace("*", "wildcard")).strip("._") or "certificate"
    return stem[:100] + suffix


def _require_key(bundle: Bundle, what: str) -> PrivateKey:
    if bundle.private_key is None:
        raise PluginRejected(
            f"{what} needs the certificate's private key, and Lemur holds none for it",
            code="no_private_key",
        )
    check_key_matches_certificate(bundle.private_key, bundle.certificate, field="private_key")
    return bundle.private_key


def _check_passphrase(passphrase: bytes | None, *, required: bool, what: str) -> bytes | None:
    if passphrase is None:
        if required:
            raise InvalidInput(
                f"{what} needs a passphrase", code="passphrase_required", field="passphrase"
            )
        return None
    if not passphrase:
        # An empty passphrase would "encrypt" with a key anyone can derive.
        raise InvalidInput(
            "the passphrase is empty; give one, or leave it out for an unencrypted key"
            if not required
            else f"{what} needs a non-empty passphrase",
            code="passphrase_required",
            field="passphrase",
        )
    if len(passphrase) > MAX_PASSPHRASE_BYTES:
        raise InvalidInput(
            f"the passphrase is longer than {MAX_PASSPHRASE_BYTES} bytes",
            code="passphrase_too_long",
            field="passphrase",
        )
    return passphrase


class PEMCertificateExporter(Exporter[NoOptions]):
    slug = "pem-certificate"
    title = "Certificate (PEM)"
    description = "The certificate alone, PEM encoded."

    def export(self, bundle: Bundle, *, passphrase: bytes | None) -> Exported:
        return Exported(
            content=certificates_to_pem([bundle.certificate]),
            media_type=PEM_FILE,
            filename=safe_filename(bundle.name, ".pem"),
        )


class PEMChainExporter(Exporter[NoOptions]):
    slug = "pem-chain"
    title = "Chain (PEM)"
    description = "The issuing CA certificates, nearest first, without the certificate."

    def export(self, bundle: Bundle, *, passphrase: bytes | None) -> Exported:
        if not bundle.chain:
            raise PluginRejected(
                "this certificate has no chain to export (it is self-signed or was "
                "imported without one)",
                code="no_chain",
            )
        return Exported(
            content=certificates_to_pem(list(bundle.chain)),
            media_type=PEM_CHAIN,
            filename=safe_filename(bundle.name, "-chain.pem"),
        )


class PEMBundleExporter(Exporter[NoOptions]):
    slug = "pem-bundle"
    title = "Certificate and chain (PEM)"
    description = "The certificate followed by its chain (RFC 8446 §4.4.2 order)."

    def export(self, bundle: Bundle, *, passphrase: bytes | None) -> Exported:
        return Exported(
            content=pem_bundle(bundle.certificate, bundle.chain),
            media_type=PEM_CHAIN,
            filename=safe_filename(bundle.name, "-fullchain.pem"),
        )


class DERCertificateExporter(Exporter[NoOptions]):
    slug = "der-certificate"
    title = "Certificate (DER)"
    description = "The certificate alone, DER encoded."

    def export(self, bundle: Bundle, *, passphrase: bytes | None) -> Exported:
        return Exported(
            content=der_certificate(bundle.certificate),
            media_type="application/pkix-cert",  # RFC 2585 §4.1
            filename=safe_filename(bundle.name, ".der"),
        )


class PKCS7BundleExporter(Exporter[NoOptions]):
    slug = "pkcs7-bundle"
    title = "Certificate and chain (PKCS#7)"
    description = "A DER PKCS#7 certs-only bundle (.p7b) of the certificate and its chain."

    def export(self, bundle: Bundle, *, passphrase: bytes | None) -> Exported:
        # A SignedData SET OF certificates (RFC 5652 §5.1) has no order; readers rebuild it.
        content = pkcs7.serialize_certificates([bundle.certificate, *bundle.chain], Encoding.DER)
        return Exported(
            content=content,
            media_type="application/x-pkcs7-certificates",
            filename=safe_filename(bundle.name, ".p7b"),
        )


class PKCS8KeyExporter(Exporter[NoOptions]):
    slug = "pkcs8-key"
    title = "Private key (PKCS#8 PEM)"
    description = "The private key as PKCS#8 PEM, encrypted when a passphrase is given."
    includes_private_key = True

    def export(self, bundle: Bundle, *, passphrase: bytes | None) -> Exported:
        key = _require_key(bundle, "a private key export")
        secret = _check_passphrase(passphrase, required=False, what="a private key export")
        return Exported(
            content=private_key_to_pem(key, secret),
            media_type=PEM_FILE,
            filename=safe_filename(bundle.name, ".key"),
            contains_private_key=True,
        )


class PKCS12Exporter(Exporter[NoOptions]):
    slug = "pkcs12"
    title = "PKCS#12 (key, certificate and chain)"
    description = (
        "A passphrase-protected PKCS#12 file (.p12) with the key, certificate and chain "
        "(AES-256 and PBKDF2-SHA256, readable by OpenSSL 3 without its legacy provider)."
    )
    includes_private_key = True
    needs_passphrase = True

    def export(self, bundle: Bundle, *, passphrase: bytes | None) -> Exported:
        key = _require_key(bundle, "a PKCS#12 export")
        secret = _check_passphrase(passphrase, required=True, what="a PKCS#12 export")
        assert secret is not None
        return Exported(
            content=pkcs12_bundle(
                key=key,
                cert=bundle.certificate,
                chain=bundle.chain,
                passphrase=secret,
                friendly_name=bundle.name,
            ),
            media_type="application/pkcs12",  # RFC 7292 Appendix D
            filename=safe_filename(bundle.name, ".p12"),
            contains_private_key=True,
        )


class JKSExporter(Exporter[NoOptions]):
    slug = "jks"
    title = "Java KeyStore (JKS: key, certificate and chain)"
    description = (
        "A JKS keystore with one private key entry (the key, the certificate and its chain) "
        "for Java applications that need JKS; the passphrase protects the store and the key. "
        "JKS protects keys with a weaker, SHA-1 based scheme than PKCS#12: prefer pkcs12 "
        "where it is accepted (Java 9 and later read it)."
    )
    includes_private_key = True
    needs_passphrase = True

    def export(self, bundle: Bundle, *, passphrase: bytes | None) -> Exported:
        key = _require_key(bundle, "a JKS keystore")
        secret = _check_passphrase(passphrase, required=True, what="a JKS keystore")
        assert secret is not None
        return Exported(
            content=jks_keystore(
                key=key,
                cert=bundle.certificate,
                chain=bundle.chain,
                passphrase=secret,
                alias=bundle.name.lower(),
                created_at=self.context.clock.now(),
            ),
            media_type=JAVA_KEYSTORE,
            filename=safe_filename(bundle.name, ".jks"),
            contains_private_key=True,
        )


class JKSTruststoreExporter(Exporter[NoOptions]):
    slug = "jks-truststore"
    title = "Java truststore (JKS: certificate and chain)"
    description = (
        "A JKS truststore with the certificate and each certificate of its chain as trusted "
        "entries (no key). The store password is the passphrase if given, else the JDK's "
        "'changeit'."
    )

    def export(self, bundle: Bundle, *, passphrase: bytes | None) -> Exported:
        secret = _check_passphrase(passphrase, required=False, what="a JKS truststore")
        alias = bundle.name.lower()
        entries = [(alias, bundle.certificate)]
        entries += [(f"{alias}-ca{n}", ca) for n, ca in enumerate(bundle.chain, start=1)]
        return Exported(
            content=jks_truststore(
                certificates=entries, passphrase=secret, created_at=self.context.clock.now()
            ),
            media_type=JAVA_KEYSTORE,
            filename=safe_filename(bundle.name, "-truststore.jks"),
        )
