"""The contract of exporters: what they write reads back as what they were given."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from cryptography import x509

from lemur.crypto.keys import public_keys_equal
from lemur.errors import InvalidInput
from lemur.plugins.base import Exporter
from lemur.plugins.errors import PluginRejected
from lemur.plugins.testing.readback import fingerprint, read_back, unencrypted_key_forms
from lemur.plugins.values import Bundle, Exported


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
        got = sorted(fingerprint(c) for c in parsed.certificates)
        expected = self.expected_certificates(exporter, bundle)
        assert got == sorted(fingerprint(c) for c in expected)

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
            for form in unencrypted_key_forms(bundle.private_key):
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
