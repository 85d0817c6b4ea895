"""Contract tests every plugin must pass, shipped for plugin authors.

Each ``*Contract`` class is a pytest mixin: subclass it in your test module under a name
pytest collects (``Test...``), provide the fixtures it names, and the inherited tests run
against your plugin::

    import pytest
    from lemur.plugins.testing import IssuerContract, PluginClassContract

    class TestMyCAClass(PluginClassContract):
        @pytest.fixture
        def plugin_class(self):
            return MyCAIssuer

    class TestMyCA(IssuerContract):
        @pytest.fixture
        def issuer(self):
            return MyCAIssuer(MyCAIssuer.Options(url="https://ca.test"), context)

        @pytest.fixture
        def issuance_request(self):
            return IssuanceRequest(...)

Test against a real system where one can run (a container, a local server); fakes only
where none can. This module imports pytest, so import it from test code only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import itertools
import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from pydantic import BaseModel, ValidationError

from lemur.crypto.keys import key_spec_of, public_keys_equal
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import extended_key_usage
from lemur.crypto.revocation import RevocationReason
from lemur.errors import InvalidInput
from lemur.plugins.base import (
    ENTRY_POINT_GROUPS,
    KINDS,
    AuthorityCreator,
    Exporter,
    Issuer,
    Plugin,
    Poller,
    Revoker,
)
from lemur.plugins.errors import PluginRejected
from lemur.plugins.options import dump_options, load_options, options_schema, secret_paths
from lemur.plugins.registry import SLUG_PATTERN, check_plugin_class
from lemur.plugins.values import (
    AuthoritySpec,
    Bundle,
    CreatedAuthority,
    Exported,
    IssuanceRequest,
    Issued,
    Pending,
    RevocationRequest,
)

__all__ = [
    "AuthorityCreatorContract",
    "ExporterContract",
    "IssuerContract",
    "PluginClassContract",
    "ReadBack",
    "assert_chain_links",
    "read_back",
]

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_SECRET_NAME = re.compile(r"(password|passphrase|secret|token|api_?key|private_?key|credential)")


def _fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def assert_chain_links(certificates: Sequence[x509.Certificate]) -> None:
    """Assert each certificate is signed by the next one (``verify_directly_issued_by``)
    and every certificate after the first is a CA."""
    for child, parent in itertools.pairwise(certificates):
        try:
            child.verify_directly_issued_by(parent)
        except Exception as exc:
            raise AssertionError(
                f"{child.subject.rfc4514_string()!r} is not signed by the next certificate "
                f"in the chain, {parent.subject.rfc4514_string()!r}: {exc}"
            ) from exc
        constraints = parent.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert constraints.ca, f"{parent.subject.rfc4514_string()!r} in the chain is not a CA"


@dataclass(frozen=True)
class ReadBack:
    """What an export contains, parsed back with pyca/cryptography."""

    certificates: tuple[x509.Certificate, ...]
    private_key: PrivateKeyTypes | None


def read_back(content: bytes, passphrase: bytes | None) -> ReadBack:
    """Parse exported bytes: PEM (certificates, PKCS#8/PKCS#1/SEC 1 keys, PKCS#7), or DER
    (a certificate, PKCS#7, PKCS#12, a PKCS#8 key). Raises AssertionError when nothing
    in it parses."""
    if content.lstrip().startswith(b"-----BEGIN"):
        certs: list[x509.Certificate] = []
        key: PrivateKeyTypes | None = None
        blocks = list(_PEM_BLOCK.finditer(content))
        assert blocks, "the PEM output has no complete PEM block"
        for block in blocks:
            label, data = block.group(1), block.group(0)
            if label == b"CERTIFICATE":
                certs.append(x509.load_pem_x509_certificate(data))
            elif label == b"PKCS7":
                certs.extend(pkcs7.load_pem_pkcs7_certificates(data))
            elif label.endswith(b"PRIVATE KEY"):
                assert key is None, "the PEM output holds two private keys"
                encrypted = label == b"ENCRYPTED PRIVATE KEY"
                key = serialization.load_pem_private_key(
                    data, password=passphrase if encrypted else None
                )
            else:
                raise AssertionError(f"unexpected PEM block {label.decode()!r}")
        return ReadBack(tuple(certs), key)
    with contextlib.suppress(ValueError):
        return ReadBack((x509.load_der_x509_certificate(content),), None)
    with contextlib.suppress(ValueError):
        return ReadBack(tuple(pkcs7.load_der_pkcs7_certificates(content)), None)
    with contextlib.suppress(ValueError):
        loaded = pkcs12.load_pkcs12(content, passphrase)
        certs = [] if loaded.cert is None else [loaded.cert.certificate]
        certs += [c.certificate for c in loaded.additional_certs]
        return ReadBack(tuple(certs), loaded.key)
    with contextlib.suppress(ValueError, TypeError):
        return ReadBack((), serialization.load_der_private_key(content, password=passphrase))
    raise AssertionError("the output is not PEM, DER, PKCS#7, PKCS#12 or a PKCS#8 key")


def _unencrypted_key_forms(key: PrivateKeyTypes) -> list[bytes]:
    return [
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    ]


class PluginClassContract:
    """Checks a plugin class as the registry and the UI see it.

    Fixtures to provide: ``plugin_class``. Optional: ``plugin_options`` (a dict of valid
    options, secrets included, for the storage round trip; default: the options' defaults,
    and the test is skipped when some option is required).

    ``not_secret_fields``: option names that look like secrets (``token_url``) but are not.
    A plugin not installed as a package in your tests has no entry point: leave that check
    out with ``test_registered_as_entry_point = None`` in your subclass.
    """

    not_secret_fields: ClassVar[frozenset[str]] = frozenset()

    @pytest.fixture
    def plugin_options(self) -> dict[str, Any] | None:
        return None

    def test_slug_is_kebab_case(self, plugin_class: type[Plugin[Any]]) -> None:
        assert SLUG_PATTERN.match(plugin_class.slug), f"slug {plugin_class.slug!r}"

    def test_title_is_present(self, plugin_class: type[Plugin[Any]]) -> None:
        assert isinstance(plugin_class.title, str)
        assert plugin_class.title.strip()

    def test_is_a_concrete_plugin_of_its_kind(self, plugin_class: type[Plugin[Any]]) -> None:
        assert plugin_class.kind in KINDS, f"kind {plugin_class.kind!r}"
        assert check_plugin_class(plugin_class.kind, plugin_class.slug, plugin_class)

    def test_options_schema_renders(self, plugin_class: type[Plugin[Any]]) -> None:
        assert issubclass(plugin_class.Options, BaseModel)
        schema = json.loads(json.dumps(options_schema(plugin_class.Options)))
        assert schema["type"] == "object"

    def test_secret_fields_are_write_only(self, plugin_class: type[Plugin[Any]]) -> None:
        raw = plugin_class.Options.model_json_schema()
        for path in secret_paths(plugin_class.Options):
            node = _schema_node(raw, path)
            assert node is None or node.get("writeOnly") is True, f"{path} is not writeOnly"
        secrets = set(secret_paths(plugin_class.Options))
        for path in _property_paths(options_schema(plugin_class.Options)):
            name = path.rsplit(".", 1)[-1].removesuffix("[]").lower()
            if _SECRET_NAME.search(name) and name not in self.not_secret_fields:
                assert {path, f"{path}[]", f"{path}.*"} & secrets, (
                    f"option {path!r} looks like a secret; declare it SecretStr so it is "
                    "stored encrypted and never returned (or list it in not_secret_fields)"
                )

    def test_options_survive_encrypted_storage(
        self, plugin_class: type[Plugin[Any]], plugin_options: dict[str, Any] | None
    ) -> None:
        try:
            options = plugin_class.Options.model_validate(plugin_options or {})
        except ValidationError:
            pytest.skip("give a plugin_options fixture with valid options")
        vault: dict[str, bytes] = {}

        def encrypt(plaintext: bytes) -> str:
            vault[f"ct-{len(vault)}"] = plaintext
            return f"ct-{len(vault) - 1}"

        stored = dump_options(options, encrypt)
        text = json.dumps(stored)
        for plaintext in vault.values():
            assert plaintext.decode("utf-8", "replace") not in text
        assert load_options(plugin_class.Options, stored, vault.__getitem__) == options

    def test_registered_as_entry_point(self, plugin_class: type[Plugin[Any]]) -> None:
        group = ENTRY_POINT_GROUPS[plugin_class.kind]
        named = [
            ep
            for ep in importlib.metadata.entry_points(group=group)
            if ep.name == plugin_class.slug
        ]
        assert named, f"no entry point {plugin_class.slug!r} in group {group!r}"
        assert any(ep.load() is plugin_class for ep in named)


def _schema_node(schema: dict[str, Any], path: str) -> dict[str, Any] | None:
    node: Any = schema
    for part in path.replace("[]", ".[]").split("."):
        if not isinstance(node, dict):
            return None
        ref = node.get("$ref")
        if isinstance(ref, str):
            node = schema.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
        if part == "[]":
            node = node.get("items")
        elif part == "*":
            node = node.get("additionalProperties")
        else:
            node = node.get("properties", {}).get(part)
    if isinstance(node, dict) and "anyOf" in node:
        node = next((o for o in node["anyOf"] if o.get("format") == "password"), node)
    return node if isinstance(node, dict) else None


def _property_paths(schema: dict[str, Any]) -> list[str]:
    defs = schema.get("$defs", {})
    out: list[str] = []

    def walk(node: Any, path: str, depth: int) -> None:
        if not isinstance(node, dict) or depth > 20:
            return
        if isinstance(node.get("$ref"), str):
            walk(defs.get(node["$ref"].removeprefix("#/$defs/")), path, depth + 1)
        for option in node.get("anyOf", []):
            walk(option, path, depth + 1)
        for name, sub in (node.get("properties") or {}).items():
            child = f"{path}.{name}" if path else name
            out.append(child)
            walk(sub, child, depth + 1)
        if "items" in node:
            walk(node["items"], f"{path}[]", depth + 1)

    walk(schema, "", 0)
    return out


class IssuerContract:
    """Checks an issuer against one request.

    Fixtures to provide: ``issuer`` (an instance) and ``issuance_request`` (an
    :class:`IssuanceRequest` it should accept). A ``Pending`` answer is polled (issuers
    returning one must implement :class:`Poller`) every ``min(retry_after,
    poll_interval_seconds)`` up to ``max_polls`` times.

    ``honours_requested_validity``: set False for CAs that choose the validity themselves
    (ACME); the certificate must then still be valid now and not before it was requested.
    """

    honours_requested_validity: ClassVar[bool] = True
    max_polls: ClassVar[int] = 30
    poll_interval_seconds: ClassVar[float] = 1.0

    @pytest.fixture
    def issuance_result(
        self, issuer: Issuer[Any], issuance_request: IssuanceRequest
    ) -> Issued | Pending:
        return issuer.issue(issuance_request)

    @pytest.fixture
    def issued(self, issuer: Issuer[Any], issuance_result: Issued | Pending) -> Issued:
        result = issuance_result
        for _ in range(self.max_polls):
            if isinstance(result, Issued):
                return result
            assert isinstance(issuer, Poller), "the issuer returned Pending but cannot poll"
            time.sleep(min(result.retry_after.total_seconds(), self.poll_interval_seconds))
            result = issuer.poll(result.external_id)
        assert isinstance(result, Issued), f"still pending after {self.max_polls} polls"
        return result

    def test_result_is_issued_or_a_well_formed_pending(
        self, issuer: Issuer[Any], issuance_result: object
    ) -> None:
        assert isinstance(issuance_result, Issued | Pending)
        if isinstance(issuance_result, Issued):
            return
        assert isinstance(issuance_result.external_id, str)
        assert issuance_result.external_id.strip()
        assert issuance_result.retry_after > dt.timedelta(0)
        assert isinstance(issuer, Poller)

    def test_certifies_the_requested_public_key(
        self, issued: Issued, issuance_request: IssuanceRequest
    ) -> None:
        assert public_keys_equal(issued.certificate.public_key(), issuance_request.public_key)

    def test_names_match_the_request_exactly(
        self, issued: Issued, issuance_request: IssuanceRequest
    ) -> None:
        cert = issued.certificate
        try:
            ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            sans = SubjectAltNames.from_extension(ext)
        except x509.ExtensionNotFound:
            sans = SubjectAltNames()
        wanted = issuance_request.sans
        assert sorted(sans.dns_names) == sorted(wanted.dns_names)
        assert sorted(map(str, sans.ip_addresses)) == sorted(map(str, wanted.ip_addresses))
        assert sorted(sans.emails) == sorted(wanted.emails)
        assert sorted(sans.uris) == sorted(wanted.uris)
        common_names = [
            a.value for a in cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        ]
        expected = [] if issuance_request.common_name is None else [issuance_request.common_name]
        assert common_names == expected

    def test_validity_is_within_the_request(
        self, issued: Issued, issuance_request: IssuanceRequest
    ) -> None:
        cert = issued.certificate
        assert cert.not_valid_before_utc < cert.not_valid_after_utc
        if self.honours_requested_validity:
            assert cert.not_valid_before_utc >= issuance_request.not_before
            assert cert.not_valid_after_utc <= issuance_request.not_after
        else:
            assert cert.not_valid_after_utc > issuance_request.not_before

    def test_is_an_end_entity_for_the_profile(
        self, issued: Issued, issuance_request: IssuanceRequest
    ) -> None:
        cert = issued.certificate
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert not constraints.ca
        usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        assert set(extended_key_usage(issuance_request.profile)) <= usages

    def test_chain_verifies_link_by_link(self, issued: Issued) -> None:
        assert issued.chain, "the issuer returned no chain"
        assert_chain_links([issued.certificate, *issued.chain])

    def test_revoke_accepts_an_issued_certificate(
        self, issuer: Issuer[Any], issued: Issued, issuance_request: IssuanceRequest
    ) -> None:
        if not isinstance(issuer, Revoker):
            pytest.skip("the issuer cannot revoke")
        issuer.revoke(
            RevocationRequest(
                certificate=issued.certificate,
                reason=RevocationReason.KEY_COMPROMISE,
                revoked_at=issuance_request.not_before,
                external_id=issued.external_id,
            )
        )


class AuthorityCreatorContract:
    """Checks ``create_authority``. Fixtures to provide: ``authority_creator`` (an issuer
    implementing :class:`AuthorityCreator`) and ``authority_spec``."""

    @pytest.fixture
    def created(
        self, authority_creator: AuthorityCreator, authority_spec: AuthoritySpec
    ) -> CreatedAuthority:
        return authority_creator.create_authority(authority_spec)

    def test_certificate_matches_the_spec(
        self, created: CreatedAuthority, authority_spec: AuthoritySpec
    ) -> None:
        cert = created.certificate
        assert cert.subject == authority_spec.subject
        assert key_spec_of(cert.public_key()) == authority_spec.key_spec
        assert cert.not_valid_before_utc >= authority_spec.not_before
        assert cert.not_valid_after_utc <= authority_spec.not_after
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert constraints.ca
        assert constraints.path_length == authority_spec.path_length

    def test_private_key_belongs_to_the_certificate(self, created: CreatedAuthority) -> None:
        assert public_keys_equal(created.private_key.public_key(), created.certificate.public_key())

    def test_chain_verifies_link_by_link(
        self, created: CreatedAuthority, authority_spec: AuthoritySpec
    ) -> None:
        if authority_spec.parent is None:
            assert created.chain == ()
            created.certificate.verify_directly_issued_by(created.certificate)
        else:
            assert created.chain[0] == authority_spec.parent.certificate
        assert_chain_links([created.certificate, *created.chain])


class ExporterContract:
    """Checks an exporter against one bundle.

    Fixtures to provide: ``exporter`` (an instance), ``bundle`` (a :class:`Bundle` *with*
    its private key and a chain) and ``passphrase`` (bytes). Override
    :meth:`expected_certificates` when your export holds only some of the certificates.
    """

    def expected_certificates(
        self, exporter: Exporter[Any], bundle: Bundle
    ) -> list[x509.Certificate]:
        """The certificates the export should contain (any order). Default: all of them."""
        return [bundle.certificate, *bundle.chain]

    @pytest.fixture
    def exported(self, exporter: Exporter[Any], bundle: Bundle, passphrase: bytes) -> Exported:
        return exporter.export(bundle, passphrase=passphrase)

    def test_output_reads_back_as_the_same_certificates(
        self, exporter: Exporter[Any], exported: Exported, bundle: Bundle, passphrase: bytes
    ) -> None:
        parsed = read_back(exported.content, passphrase)
        got = sorted(_fingerprint(c) for c in parsed.certificates)
        expected = self.expected_certificates(exporter, bundle)
        assert got == sorted(_fingerprint(c) for c in expected)

    def test_private_key_only_where_declared(
        self, exporter: Exporter[Any], exported: Exported, bundle: Bundle, passphrase: bytes
    ) -> None:
        parsed = read_back(exported.content, passphrase)
        assert exported.contains_private_key is exporter.includes_private_key
        if exporter.includes_private_key:
            assert parsed.private_key is not None
            assert bundle.private_key is not None
            assert public_keys_equal(
                parsed.private_key.public_key(), bundle.private_key.public_key()
            )
        else:
            assert parsed.private_key is None

    def test_passphrase_never_in_clear(
        self, exporter: Exporter[Any], exported: Exported, bundle: Bundle, passphrase: bytes
    ) -> None:
        assert passphrase not in exported.content
        assert passphrase.decode("utf-8", "replace") not in exported.filename + exported.media_type
        if exporter.includes_private_key and bundle.private_key is not None:
            for form in _unencrypted_key_forms(bundle.private_key):
                assert form not in exported.content, "the key is not encrypted"

    def test_filename_and_media_type(self, exported: Exported) -> None:
        name = exported.filename
        assert name
        assert "/" not in name
        assert "\\" not in name
        assert not name.startswith(".")
        assert re.match(r"^[a-z]+/[a-z0-9.+-]+", exported.media_type)

    def test_bundle_without_key(
        self, exporter: Exporter[Any], bundle: Bundle, passphrase: bytes
    ) -> None:
        keyless = replace(bundle, private_key=None)
        if exporter.includes_private_key:
            with pytest.raises(PluginRejected) as caught:
                exporter.export(keyless, passphrase=passphrase)
            assert caught.value.code == "no_private_key"
            assert passphrase.decode("utf-8", "replace") not in caught.value.message
        else:
            exported = exporter.export(keyless, passphrase=passphrase)
            assert read_back(exported.content, passphrase).private_key is None

    def test_missing_passphrase(self, exporter: Exporter[Any], bundle: Bundle) -> None:
        if exporter.needs_passphrase:
            with pytest.raises(InvalidInput) as caught:
                exporter.export(bundle, passphrase=None)
            assert (caught.value.code, caught.value.field) == ("passphrase_required", "passphrase")
        else:
            exported = exporter.export(bundle, passphrase=None)
            parsed = read_back(exported.content, None)
            assert parsed.certificates or parsed.private_key is not None
