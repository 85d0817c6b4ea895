"""Lemur's crypto layer: pure functions over pyca/cryptography objects.

No I/O, no database, no clock: callers pass times (aware UTC) and URLs in. Every failure
caused by input is a :class:`lemur.errors.InvalidInput` with a stable ``code`` and, where the
caller names the input, a ``field``. Messages never contain key material or passphrases.

Public API (import from the submodules):

``keys``
    ``KeySpec`` (ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096, ed25519), ``PrivateKey``,
    ``PublicKey``, ``generate_private_key(spec)``, ``key_spec_of(public_key, *, field)``,
    ``private_key_to_pem(key, passphrase)``, ``load_private_key(data, passphrase, *, field)``,
    ``public_keys_equal(a, b)``, ``key_matches_certificate(key, cert)``,
    ``check_key_matches_certificate(key, cert, *, field)``.
``names``
    ``normalize_dns_name(value, *, field, allow_wildcard)``, ``parse_ip_address``,
    ``validate_email``, ``validate_uri``, ``SubjectAltNames`` (``create``,
    ``from_extension``, ``to_extension``, ``all_names``), ``wildcard_covers(pattern, name)``,
    ``covering_wildcards(name)``.
``parsing``
    ``load_certificate``, ``load_certificates``, ``load_pkcs12`` -> ``PKCS12Contents``,
    ``load_csr`` -> ``CSRInfo``, ``pem_blocks``, ``certificate_to_pem``,
    ``certificates_to_pem``, ``certificate_to_der``.
``inspection``
    ``describe_certificate(cert)`` -> ``CertificateDetails``.
``chain``
    ``order_chain(leaf, others, *, field)``, ``is_self_signed(cert)``,
    ``is_directly_issued_by(cert, issuer)``.
``profiles``
    ``Profile`` (server, client, server-client), ``max_tls_validity_days(not_before)``.
``issuance``
    ``build_ca_certificate(...)``, ``build_leaf_certificate(...)``.
``revocation``
    ``RevocationReason``, ``RevokedEntry``, ``build_crl``, ``parse_ocsp_request`` ->
    ``OCSPRequestInfo``, ``issuer_matches_request``, ``build_ocsp_response``,
    ``ocsp_unauthorized_response``, ``malformed_request_response``.
``export``
    ``pkcs12_bundle``, ``pem_bundle``, ``der_certificate``.

``keyring`` (envelope encryption of stored keys) is maintained separately.
"""
