"""Lemur's HTTP-01 answers in the database (lemur.orders.responder): what the acme issuer
publishes is served at /.well-known/acme-challenge/{token} by every web process, so it must
be committed at once, and gone once withdrawn."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lemur.app import create_app
from lemur.container import Container
from lemur.orders.responder import DatabaseChallenges

TOKEN = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
URL = f"/.well-known/acme-challenge/{TOKEN}"


def test_a_published_answer_is_served_until_withdrawn(container: Container) -> None:
    responder = DatabaseChallenges(container.db, container.clock)
    with TestClient(create_app(container)) as client:
        assert client.get(URL).status_code == 404
        responder.publish(TOKEN, f"{TOKEN}.thumbprint")
        served = client.get(URL)
        assert (served.status_code, served.text) == (200, f"{TOKEN}.thumbprint")
        responder.withdraw(TOKEN)
        assert client.get(URL).status_code == 404
