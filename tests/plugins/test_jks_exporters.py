"""The JKS exporters, read back twice: with pyjks (entries, aliases, the key, the chain in
order, the store's integrity) and with the JDK's own ``keytool -list -v`` (needs
openjdk-17-jre-headless: scripts/install-peers.sh)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import jks
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from fastapi.testclient import TestClient

from lemur.app import create_app
from lemur.builtin.exporters import JKSExporter, JKSTruststoreExporter
from lemur.container import Container
from lemur.crypto.jks import DEFAULT_TRUSTSTORE_PASSWORD
from lemur.crypto.keys import KeySpec, generate_private_key, public_keys_equal
from lemur.errors import InvalidInput
from lemur.plugins.base import NoOptions
from lemur.plugins.values import Bundle, Issued
from tests.api.certs_helpers import audit_rows, error, export, issue
from tests.api.conftest import World
from tests.plugins.conftest import CA, NOW, PASSPHRASE, leaf_request, local_ca, make_context

KEYTOOL = shutil.which("keytool")
needs_keytool = pytest.mark.skipif(
    KEYTOOL is None, reason="keytool missing: run scripts/install-peers.sh"
)


def keytool(path: Path, storepass: str, *extra: str) -> subprocess.CompletedProcess[str]:
    assert KEYTOOL is not None
    return subprocess.run(
        [KEYTOOL, "-list", "-v", "-keystore", str(path), "-storepass", storepass, *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "LC_ALL": "C"},
    )


def sha256_colons(cert: x509.Certificate) -> str:
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


@pytest.fixture(
    scope="module", params=[KeySpec.EC_P256, KeySpec.RSA_2048, KeySpec.ED25519], ids=str
)
def bundle(request: pytest.FixtureRequest, ca: CA) -> Bundle:
    spec: KeySpec = request.param
    key = generate_private_key(spec)
    issued = local_ca().issue(leaf_request(ca.intermediate, key=key, key_spec=spec))
    assert isinstance(issued, Issued)
    return Bundle(
        certificate=issued.certificate,
        chain=issued.chain,
        private_key=key,
        name="*.Shop.example.com",
    )


def test_keystore_reads_back_with_pyjks(bundle: Bundle) -> None:
    exported = JKSExporter(NoOptions(), make_context()).export(bundle, passphrase=PASSPHRASE)
    assert exported.media_type == "application/x-java-keystore"
    assert exported.filename == "wildcard.Shop.example.com.jks"
    assert exported.contains_private_key

    store = jks.KeyStore.loads(exported.content, PASSPHRASE.decode())
    assert store.store_type == "jks"
    assert list(store.private_keys) == ["*.shop.example.com"]  # Java keeps aliases lowercase
    assert store.certs == {}
    entry = store.private_keys["*.shop.example.com"]
    assert entry.timestamp == int(NOW.timestamp() * 1000)
    key = serialization.load_der_private_key(entry.pkey_pkcs8, password=None)
    assert bundle.private_key is not None
    assert public_keys_equal(key.public_key(), bundle.private_key.public_key())  # type: ignore[arg-type]
    chain = [x509.load_der_x509_certificate(der) for _kind, der in entry.cert_chain]
    assert chain == [bundle.certificate, *bundle.chain]

    with pytest.raises(jks.util.KeystoreSignatureException):
        jks.KeyStore.loads(exported.content, "not the passphrase")


def test_truststore_reads_back_with_pyjks(bundle: Bundle) -> None:
    exporter = JKSTruststoreExporter(NoOptions(), make_context())
    exported = exporter.export(bundle, passphrase=None)
    assert (exported.filename, exported.contains_private_key) == (
        "wildcard.Shop.example.com-truststore.jks",
        False,
    )
    store = jks.KeyStore.loads(exported.content, DEFAULT_TRUSTSTORE_PASSWORD)
    assert store.private_keys == {}
    trusted = {a: x509.load_der_x509_certificate(e.cert) for a, e in store.certs.items()}
    assert trusted == {
        "*.shop.example.com": bundle.certificate,
        **{f"*.shop.example.com-ca{n}": c for n, c in enumerate(bundle.chain, start=1)},
    }
    # With a passphrase, that is the store password.
    protected = exporter.export(bundle, passphrase=PASSPHRASE).content
    assert len(jks.KeyStore.loads(protected, PASSPHRASE.decode()).certs) == 1 + len(bundle.chain)
    with pytest.raises(jks.util.KeystoreSignatureException):
        jks.KeyStore.loads(protected, DEFAULT_TRUSTSTORE_PASSWORD)


def test_keystore_needs_a_passphrase_and_the_key(bundle: Bundle) -> None:
    exporter = JKSExporter(NoOptions(), make_context())
    with pytest.raises(InvalidInput) as caught:
        exporter.export(bundle, passphrase=None)
    assert (caught.value.code, caught.value.field) == ("passphrase_required", "passphrase")
    other = generate_private_key(KeySpec.EC_P256)
    with pytest.raises(InvalidInput) as mismatch:
        exporter.export(
            Bundle(bundle.certificate, bundle.chain, other, bundle.name), passphrase=PASSPHRASE
        )
    assert mismatch.value.code == "key_mismatch"


@needs_keytool
def test_keytool_lists_the_private_key_entry_and_its_chain(bundle: Bundle, tmp_path: Path) -> None:
    path = tmp_path / "store.jks"
    path.write_bytes(
        JKSExporter(NoOptions(), make_context()).export(bundle, passphrase=PASSPHRASE).content
    )
    done = keytool(path, PASSPHRASE.decode())
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Keystore type: JKS" in out
    assert "Your keystore contains 1 entry" in out
    assert "Alias name: *.shop.example.com" in out
    assert "Entry type: PrivateKeyEntry" in out
    assert f"Certificate chain length: {1 + len(bundle.chain)}" in out
    fingerprints = re.findall(r"SHA256: ([0-9A-F:]+)", out)
    assert fingerprints == [sha256_colons(c) for c in (bundle.certificate, *bundle.chain)]
    assert "Owner: CN=www.example.com" in out

    wrong = keytool(path, "not the passphrase")
    assert wrong.returncode != 0
    assert "password was incorrect" in wrong.stdout + wrong.stderr


@needs_keytool
def test_keytool_lists_the_truststore_entries(bundle: Bundle, tmp_path: Path) -> None:
    path = tmp_path / "trust.jks"
    exporter = JKSTruststoreExporter(NoOptions(), make_context())
    path.write_bytes(exporter.export(bundle, passphrase=None).content)
    done = keytool(path, DEFAULT_TRUSTSTORE_PASSWORD)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    count = 1 + len(bundle.chain)
    assert f"Your keystore contains {count} entries" in out
    assert out.count("Entry type: trustedCertEntry") == count
    assert sorted(re.findall(r"SHA256: ([0-9A-F:]+)", out)) == sorted(
        sha256_colons(c) for c in (bundle.certificate, *bundle.chain)
    )
    assert "PrivateKeyEntry" not in out


# -- through the API, as a developer downloads them --------------------------------------------


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container), client=("192.0.2.10", 50000)) as c:
        yield c


def test_api_exports_a_keystore_for_the_owner_and_audits_it(
    client: TestClient, world: World, container: Container, tmp_path: Path
) -> None:
    cert = issue(client, world, dns_names=["java.example.com"], common_name="java.example.com")
    url = f"/api/v1/certificates/{cert['id']}/export"
    refused = client.get(url, params={"format": "jks"}, headers=world.headers("member"))
    error(refused, 422, "key_export_needs_post", "format")
    error(export(client, world, cert["id"], "jks"), 422, "passphrase_required", "passphrase")

    r = export(client, world, cert["id"], "jks", passphrase="java-keystore-Passphrase-7")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/x-java-keystore"
    assert r.headers["content-disposition"] == 'attachment; filename="java.example.com.jks"'
    assert r.headers["cache-control"] == "no-store"
    store = jks.KeyStore.loads(r.content, "java-keystore-Passphrase-7")
    [(alias, entry)] = store.private_keys.items()
    assert alias == "java.example.com"
    leaf = x509.load_der_x509_certificate(entry.cert_chain[0][1])
    assert format(leaf.serial_number, "x") == cert["serial_number"]
    assert len(entry.cert_chain) == 1 + len(cert["chain"])
    [event] = [e for e in audit_rows(container) if e.action == "certificate.export_key"]
    assert json.loads(event.details) == {"encrypted": True, "format": "jks"}
    assert "java-keystore-Passphrase-7" not in event.details

    # Another team's member gets nothing; the truststore is public (GET, no passphrase).
    outsider = export(
        client, world, cert["id"], "jks", who="outsider", passphrase="maple orbit lantern cobalt"
    )
    error(outsider, 404, "certificate_not_found", "certificate_id")
    trust = client.get(url, params={"format": "jks-truststore"}, headers=world.headers("reader"))
    assert trust.status_code == 200, trust.text
    path = tmp_path / "trust.jks"
    path.write_bytes(trust.content)
    if KEYTOOL is not None:
        listed = keytool(path, DEFAULT_TRUSTSTORE_PASSWORD)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        assert listed.stdout.count("trustedCertEntry") == 1 + len(cert["chain"])
