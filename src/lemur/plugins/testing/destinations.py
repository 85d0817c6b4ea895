"""The contract of destinations: a bundle lands whole, deploying it again changes nothing,
the next bundle replaces it (and the previous one can be put back), removal is idempotent,
an unreachable target is a transient error, and secrets stay out of reprs and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from lemur.plugins.base import Connector, Destination, ListenerRotator, Verifier
from lemur.plugins.errors import PluginTransientError
from lemur.plugins.testing.notifiers import secret_values
from lemur.plugins.values import Bundle, DeploymentRef

Deployed = Callable[[DeploymentRef], "x509.Certificate | None"]


def fingerprint(certificate: x509.Certificate) -> bytes:
    return certificate.fingerprint(hashes.SHA256())


class DestinationContract:
    """Checks a destination against a real target.

    Fixtures to provide:

    - ``destination``: an instance configured for a target that accepts deployments;
    - ``bundles``: two different bundles ``(first, second)``, each with its chain and key;
    - ``deployed``: a callable reading back, from the target itself (not through the
      plugin), the certificate held at a reference, or None when nothing is there.
    """

    def test_deploy_places_the_certificate(
        self, destination: Destination[Any], bundles: tuple[Bundle, Bundle], deployed: Deployed
    ) -> None:
        first, _ = bundles
        ref = destination.deploy(first)
        assert ref.value.strip()
        held = deployed(ref)
        assert held is not None, f"nothing at {ref.value} after deploy"
        assert fingerprint(held) == fingerprint(first.certificate)

    def test_deploying_the_same_bundle_twice_is_a_no_op(
        self, destination: Destination[Any], bundles: tuple[Bundle, Bundle], deployed: Deployed
    ) -> None:
        first, _ = bundles
        ref = destination.deploy(first)
        again = destination.deploy(first, previous=ref)
        assert again == ref
        held = deployed(again)
        assert held is not None
        assert fingerprint(held) == fingerprint(first.certificate)

    def test_the_next_bundle_replaces_and_the_previous_comes_back(
        self, destination: Destination[Any], bundles: tuple[Bundle, Bundle], deployed: Deployed
    ) -> None:
        first, second = bundles
        ref1 = destination.deploy(first)
        ref2 = destination.deploy(second, previous=ref1)
        held = deployed(ref2)
        assert held is not None
        assert fingerprint(held) == fingerprint(second.certificate)
        back = destination.deploy(first, previous=ref2)  # Lemur's rollback
        held = deployed(back)
        assert held is not None
        assert fingerprint(held) == fingerprint(first.certificate)

    def test_remove_is_idempotent(
        self, destination: Destination[Any], bundles: tuple[Bundle, Bundle], deployed: Deployed
    ) -> None:
        first, _ = bundles
        ref = destination.deploy(first)
        destination.remove(ref)
        assert deployed(ref) is None
        destination.remove(ref)

    def test_connect_says_what_it_checked(self, destination: Destination[Any]) -> None:
        assert isinstance(destination, Connector), "a destination offers 'check connection'"
        summary = destination.connect().summary
        assert summary.strip()
        assert "\n" not in summary

    def test_secrets_never_in_repr(self, destination: Destination[Any]) -> None:
        shown = [
            repr(destination.options),
            str(destination.options),
            destination.options.model_dump_json(),
        ]
        for secret in secret_values(destination.options):
            for text in shown:
                assert secret not in text


class VerifierContract:
    """For destinations that are Verifiers. Fixtures: ``destination`` and ``bundles``."""

    def test_verify_tells_which_certificate_is_there(
        self, destination: Destination[Any], bundles: tuple[Bundle, Bundle]
    ) -> None:
        assert isinstance(destination, Verifier)
        first, second = bundles
        ref = destination.deploy(first)
        assert destination.verify(ref, first)
        assert not destination.verify(ref, second)


class UnreachableDestinationContract:
    """For destinations reached over the network. Fixtures: ``unreachable_destination``
    (the same plugin pointed at a closed port, with the same secrets) and ``bundles``."""

    def test_unreachable_target_is_transient(
        self, unreachable_destination: Destination[Any], bundles: tuple[Bundle, Bundle]
    ) -> None:
        with pytest.raises(PluginTransientError) as caught:
            unreachable_destination.deploy(bundles[0])
        for secret in secret_values(unreachable_destination.options):
            assert secret not in caught.value.message
            assert secret not in str(caught.value)

    def test_check_connection_of_an_unreachable_target_is_transient(
        self, unreachable_destination: Destination[Any]
    ) -> None:
        assert isinstance(unreachable_destination, Connector)
        with pytest.raises(PluginTransientError):
            unreachable_destination.connect()


class ListenerRotatorContract:
    """For load balancer destinations. Fixtures: ``destination`` (a ListenerRotator),
    ``bundles`` and ``listener`` (a listener serving some other certificate at first)."""

    def test_attach_replaces_the_default_and_is_idempotent(
        self, destination: Destination[Any], bundles: tuple[Bundle, Bundle], listener: str
    ) -> None:
        assert isinstance(destination, ListenerRotator)
        first, second = bundles
        ref1 = destination.deploy(first)
        destination.attach(ref1, listener)
        assert ref1.value in destination.attached(listener)
        ref2 = destination.deploy(second, previous=ref1)
        destination.attach(ref2, listener, replacing=ref1)
        destination.attach(ref2, listener, replacing=ref1)
        served = destination.attached(listener)
        assert ref2.value in served
        if ref2 != ref1:
            assert ref1.value not in served
