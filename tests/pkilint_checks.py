"""pkilint, the external linter Lemur's certificates must pass: its RFC 5280 linter and its
CA/Browser Forum TLS server-certificate linter, reduced to the ERROR-or-worse findings."""

from __future__ import annotations

from cryptography import x509
from pkilint import finding_filter, loader
from pkilint.cabf import serverauth
from pkilint.pkix import certificate, extension, name
from pkilint.validation import ValidationFindingSeverity

from lemur.crypto.parsing import certificate_to_der


def _findings(results: object) -> list[str]:
    out = []
    for result in results:  # type: ignore[attr-defined]
        for description in result.finding_descriptions:
            if description.finding.severity <= ValidationFindingSeverity.ERROR:
                out.append(
                    f"{description.finding.severity.name} {description.finding.code} "
                    f"{description.message or ''} @ {result.node.path}"
                )
    return out


def _document(cert: x509.Certificate) -> object:
    return loader.RFC5280CertificateDocumentLoader().load_der_document(
        certificate_to_der(cert), "certificate"
    )


def pkix_errors(cert: x509.Certificate) -> list[str]:
    """ERROR-or-worse findings of pkilint's RFC 5280 linter (what lint_pkix_cert runs)."""
    validator = certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(
            name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
        ),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )
    return _findings(validator.validate(_document(cert).root))  # type: ignore[attr-defined]


def cabf_errors(cert: x509.Certificate) -> tuple[str, list[str]]:
    """(detected type, ERROR-or-worse findings) of pkilint's CA/B TLS BR linter, with the
    same finding filters lint_cabf_serverauth_cert applies by default."""
    document = _document(cert)
    cert_type = serverauth.determine_certificate_type(document)
    validator = certificate.create_pkix_certificate_validator_container(
        serverauth.create_decoding_validators(), serverauth.create_validators(cert_type)
    )
    results = validator.validate(document.root)  # type: ignore[attr-defined]
    results, _ = finding_filter.filter_results(
        serverauth.create_serverauth_finding_filters(cert_type), results
    )
    return str(cert_type), _findings(results)
