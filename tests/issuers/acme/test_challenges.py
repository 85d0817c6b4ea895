"""What a requester notices about validation: the names they asked for (wildcards through
DNS-01), the answers put in place while the CA validates and removed afterwards, and the
CA's own reason when it could not validate a name."""

from __future__ import annotations

import http.server
import re
import threading
import time

import pytest
from acme import challenges, messages
from acme import client as acme_client
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from lemur.builtin.acme import ACMEIssuer, ACMEOptions
from lemur.plugins.errors import PluginRejected
from lemur.plugins.testing import assert_chain_links
from lemur.plugins.values import IssuanceRequest, Issued, Pending
from tests.issuers.acme.conftest import base_options, make_context, make_request, unique
from tests.peers.pebble import MemoryResponder, PebblePeer
from tests.peers.server import free_port


def finish(issuer: ACMEIssuer, request: IssuanceRequest, result: Issued | Pending) -> Issued:
    for _ in range(30):
        if isinstance(result, Issued):
            return result
        time.sleep(result.retry_after.total_seconds())
        result = issuer.poll(result.external_id, request)
    raise AssertionError("the order did not finish")


def dns_names(certificate: x509.Certificate) -> list[str]:
    sans = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return sorted(sans.get_values_for_type(x509.DNSName))


def test_wildcard_is_issued_through_dns01_with_both_names(
    dns_issuer: ACMEIssuer, pebble: PebblePeer
) -> None:
    base = f"{unique('wild')}.example.test"
    request = make_request([base, f"*.{base}"], common_name=base)

    issued = finish(dns_issuer, request, dns_issuer.issue(request))

    assert dns_names(issued.certificate) == sorted([base, f"*.{base}"])
    root = x509.load_pem_x509_certificate(pebble.roots.encode())
    assert_chain_links([issued.certificate, *issued.chain, root])
    assert issued.external_id is not None
    assert "/my-order/" in issued.external_id


def test_txt_records_are_in_bind_while_the_ca_validates_and_removed_after(
    dns_issuer: ACMEIssuer, pebble: PebblePeer
) -> None:
    base = f"{unique('txt')}.example.test"
    other = f"{unique('txt')}.example.test"
    request = make_request([base, f"*.{base}", other], common_name=base)
    assert pebble.txt_records(f"_acme-challenge.{base}") == []

    pending = dns_issuer.issue(request)

    assert isinstance(pending, Pending)
    assert "/my-order/" in pending.external_id
    assert pending.retry_after.total_seconds() <= 2
    # base and *.base share one name: two values there, one for the other name
    assert len(pebble.txt_records(f"_acme-challenge.{base}")) == 2
    assert len(pebble.txt_records(f"_acme-challenge.{other}")) == 1

    issued = finish(dns_issuer, request, pending)

    assert dns_names(issued.certificate) == sorted([base, f"*.{base}", other])
    assert pebble.txt_records(f"_acme-challenge.{base}") == []
    assert pebble.txt_records(f"_acme-challenge.{other}") == []


def test_http01_tokens_are_served_while_the_ca_validates_and_withdrawn_after(
    http_issuer: ACMEIssuer, pebble: PebblePeer
) -> None:
    name = f"{unique('web')}.example.test"
    request = make_request([name], common_name=name)
    before = len(pebble.responder.published)

    pending = http_issuer.issue(request)

    tokens = pebble.responder.published[before:]
    assert len(tokens) == 1
    issued = finish(http_issuer, request, pending)
    assert dns_names(issued.certificate) == [name]
    assert tokens[0] in pebble.responder.withdrawn
    assert pebble.responder.content(tokens[0]) is None


def test_wildcard_with_http01_is_refused_before_the_ca_is_contacted(pebble: PebblePeer) -> None:
    # The directory URL points nowhere: reaching for it would be a transient error.
    options = base_options(pebble, directory_url=f"https://127.0.0.1:{free_port()}/dir")
    options["account_key"] = None
    issuer = ACMEIssuer(ACMEOptions.model_validate(options), make_context(pebble.responder))
    request = make_request(["*.example.test", "example.test"], common_name="example.test")

    with pytest.raises(PluginRejected, match=r"wildcard.*DNS-01") as caught:
        issuer.issue(request)

    assert caught.value.code == "acme_wildcard_needs_dns01"
    assert "*.example.test" in caught.value.message


def test_dns01_for_a_name_outside_the_zone_is_refused_before_the_ca_is_contacted(
    dns_issuer: ACMEIssuer,
) -> None:
    request = make_request(["www.elsewhere.test"], common_name="www.elsewhere.test")

    with pytest.raises(PluginRejected, match=r"not in the DNS zone example\.test") as caught:
        dns_issuer.issue(request)

    assert caught.value.code == "acme_name_outside_zone"


def test_dns01_without_a_usable_record_fails_with_the_cas_reason(
    dns_issuer: ACMEIssuer, pebble: PebblePeer
) -> None:
    # _acme-challenge.broken.example.test is a CNAME to nowhere: BIND ignores the TXT
    # update there, so the CA finds no record (as with a stale CNAME delegation).
    request = make_request(["broken.example.test"], common_name="broken.example.test")

    with pytest.raises(PluginRejected) as caught:
        # the CA may have failed the order by the time issue() reads it back
        finish(dns_issuer, request, dns_issuer.issue(request))

    message = caught.value.message
    assert caught.value.code == "acme_order_invalid"
    assert "broken.example.test (dns-01): No TXT records found" in message  # the CA's words
    order_url = re.search(r"\(order (\S+)\)$", message)
    assert order_url is not None
    # the order stays invalid at the CA
    with pytest.raises(PluginRejected, match="did not issue"):
        dns_issuer.poll(order_url.group(1), request)


def test_http01_not_served_fails_with_the_cas_reason(
    pebble: PebblePeer, acme_account: dict[str, str]
) -> None:
    # A responder the CA cannot see: as if Lemur's web process were not reachable.
    elsewhere = MemoryResponder()
    issuer = ACMEIssuer(
        ACMEOptions.model_validate(base_options(pebble, **acme_account)), make_context(elsewhere)
    )
    name = f"{unique('unserved')}.example.test"
    request = make_request([name], common_name=name)

    with pytest.raises(PluginRejected) as caught:
        finish(issuer, request, issuer.issue(request))

    message = caught.value.message
    assert f"{name} (http-01)" in message
    assert "404" in message
    assert elsewhere.published
    assert elsewhere.published == elsewhere.withdrawn


def interrupted_order(
    peer: PebblePeer, account: dict[str, str], name: str, kind: str
) -> tuple[str, str, str]:
    """An order as an issue() interrupted after putting the answers in place and before
    telling the CA leaves it: pending, answers published, challenges not answered. Placed
    with a bare acme client and the account's key. Returns (order URL, token, answer)."""
    jwk = JWKEC(key=serialization.load_pem_private_key(account["account_key"].encode(), None))
    net = acme_client.ClientNetwork(jwk, alg=ES256, verify_ssl=peer.ca_file)
    directory = acme_client.ClientV2.get_directory(peer.directory_url, net)
    net.account = messages.RegistrationResource(
        uri=account["account_url"], body=messages.Registration()
    )
    client = acme_client.ClientV2(directory, net)
    csr = make_request([name], common_name=name).csr
    assert csr is not None
    order = client.new_order(csr.public_bytes(serialization.Encoding.PEM))
    wanted = challenges.DNS01 if kind == "dns-01" else challenges.HTTP01
    challb = next(c for c in order.authorizations[0].body.challenges if isinstance(c.chall, wanted))
    token = challb.chall.encode("token")
    answer = challb.chall.validation(jwk)
    if kind == "dns-01":
        peer.bind.add_txt(f"_acme-challenge.{name}", answer)
    else:
        peer.responder.publish(token, answer)
    assert order.uri is not None
    return order.uri, token, answer


def test_cancel_deactivates_the_order_and_withdraws_the_answers(
    http_issuer: ACMEIssuer, pebble: PebblePeer, acme_account: dict[str, str]
) -> None:
    name = f"{unique('cancel')}.example.test"
    order_url, token, _ = interrupted_order(pebble, acme_account, name, "http-01")
    assert pebble.responder.content(token) is not None

    http_issuer.cancel(order_url)

    assert pebble.responder.content(token) is None
    request = make_request([name], common_name=name)
    with pytest.raises(PluginRejected, match=f"{name}: the authorization is deactivated"):
        http_issuer.poll(order_url, request)
    http_issuer.cancel(order_url)  # again: nothing left to do, no error


def test_cancel_removes_the_txt_records(
    dns_issuer: ACMEIssuer, pebble: PebblePeer, acme_account: dict[str, str]
) -> None:
    name = f"{unique('cancel')}.example.test"
    order_url, _, answer = interrupted_order(pebble, acme_account, name, "dns-01")
    assert pebble.txt_records(f"_acme-challenge.{name}") == [answer]

    dns_issuer.cancel(order_url)

    assert pebble.txt_records(f"_acme-challenge.{name}") == []
    request = make_request([name], common_name=name)
    with pytest.raises(PluginRejected, match=f"{name}: the authorization is deactivated"):
        dns_issuer.poll(order_url, request)


def test_http01_answers_can_come_from_the_server_a_test_names(
    pebble: PebblePeer, acme_account: dict[str, str]
) -> None:
    # As with a real `lemur serve` answering /.well-known/acme-challenge/ from its database.
    served = MemoryResponder()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            content = served.content(self.path.rsplit("/", 1)[-1])
            self.send_response(200 if content else 404)
            self.end_headers()
            self.wfile.write((content or "").encode())

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    pebble.http01_target = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        issuer = ACMEIssuer(
            ACMEOptions.model_validate(base_options(pebble, **acme_account)),
            make_context(served),
        )
        name = f"{unique('target')}.example.test"
        request = make_request([name], common_name=name)

        issued = finish(issuer, request, issuer.issue(request))

        assert dns_names(issued.certificate) == [name]
        assert served.published == served.withdrawn
    finally:
        pebble.http01_target = None
        server.shutdown()
        server.server_close()


def test_the_preferred_chain_is_chosen_among_the_cas_alternates(pebble: PebblePeer) -> None:
    """Pebble offers a second chain to another root (PEBBLE_ALTERNATE_ROOTS=1): with
    ``preferred_chain`` naming that root, the certificate comes with the chain that ends
    there; without it, with the CA's default chain (root 0)."""
    default_root = x509.load_pem_x509_certificate(pebble.roots.encode())
    other_root = x509.load_pem_x509_certificate(pebble.alternate_root.encode())
    other_name = other_root.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert other_root.subject != default_root.subject
    for preferred, root in ((None, default_root), (str(other_name), other_root)):
        options = ACMEOptions.model_validate(base_options(pebble, preferred_chain=preferred))
        issuer = ACMEIssuer(options, make_context(pebble.responder))
        issuer = ACMEIssuer(issuer.connect().options, make_context(pebble.responder))  # type: ignore[arg-type]
        request = make_request([f"{unique('chain')}.example.test"])
        issued = finish(issuer, request, issuer.issue(request))
        assert issued.chain[-1].issuer == root.subject, preferred
        assert_chain_links([issued.certificate, *issued.chain, root])
