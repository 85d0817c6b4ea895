from fastapi.testclient import TestClient

from tests.api.conftest import World


def test_me_shows_role_and_teams(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/me", headers=world.headers("member"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["username"] == "member"
    assert body["role"] == "member"
    assert [t["name"] for t in body["teams"]] == ["own"]
