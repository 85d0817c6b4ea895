"""The authorization matrix: every /api/v1 route x every kind of caller.

The table below is the specification. A route that exists but is missing here, or a row for a
route that does not exist, fails the suite: a new endpoint cannot ship without a decision
about who may call it. Every row is then exercised for real, as every principal.

Outcome codes (one per principal column):
  A  allowed: the call succeeds (2xx)
  D  denied: 403 permission_denied
  S  denied: 403 token_scope_insufficient (a read-scoped token on a state-changing route)
  H  hidden: 404 certificate_not_found (request_not_found for a request), as for a missing
     one (a 403 would confirm that another team's certificate or request exists)
Anonymous callers always get 401, except on rows marked PUBLIC.

The member columns are "a member acting on their own team" and "a member acting on another
team": a {team_id} in the path, a team_id in the body, or the certificate a {certificate_id}
names belongs to the member's team or to the other one. For global actions the two columns
agree; for team-scoped ones (certificates) they differ.

Every allowed call of a state-changing row must leave exactly one audit event naming its
caller, and every refused call none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lemur.accounts.models import ApiToken, Role, TokenScope, User
from lemur.app import create_app
from lemur.audit.models import AuditEvent
from lemur.authorities.models import Authority
from lemur.authz import Action, cli_principal
from lemur.container import Container
from lemur.services import Services
from tests.api.certs_helpers import make_ca, make_leaf, pem
from tests.api.conftest import World

PRINCIPALS = (
    "admin",
    "security",
    "member-own-team",
    "member-other-team",
    "read-only",
    "read-scoped-token",
)
PUBLIC = "PUBLIC"


@dataclass(frozen=True)
class Caller:
    label: str
    username: str | None  # None: anonymous
    team: str  # the team a {team_id} in the path names
    scope: TokenScope = TokenScope.WRITE


CALLERS = {
    "admin": Caller("admin", "admin2", "own"),
    "security": Caller("security", "security", "own"),
    "member-own-team": Caller("member-own-team", "member", "own"),
    "member-other-team": Caller("member-other-team", "member", "other"),
    "read-only": Caller("read-only", "reader", "own"),
    "read-scoped-token": Caller("read-scoped-token", "admin2", "own", TokenScope.READ),
    "anonymous": Caller("anonymous", None, "own"),
}


class Ctx:
    """Builds what one call needs (a target user, a token to revoke, ...) in a real database."""

    def __init__(
        self, world: World, client: TestClient, request: pytest.FixtureRequest | None = None
    ) -> None:
        self.world = world
        self.client = client
        self.c = world.container
        self.n = 0
        self.request = request
        self.remote_authority: int | None = None

    def fresh_user(self, *, team: str | None = None) -> tuple[int, str]:
        self.n += 1
        name = f"target-{self.n}"
        with Services(self.c, cli_principal()) as services:
            accounts = services.accounts()
            user, _ = accounts.create_user(name, role=Role.MEMBER, password="target-password-123")
            if team is not None:
                accounts.add_member(accounts.get_team(self.world.team_ids[team]), user)
            return user.id, name

    def fresh_token_id(self, username: str) -> int:
        self.n += 1
        plaintext = self.world.add_token(username, name=f"to-revoke-{self.n}")
        public_id = plaintext.split("_")[1]
        with self.c.db.read() as session:
            token_id = session.scalar(select(ApiToken.id).where(ApiToken.public_id == public_id))
        assert token_id is not None
        return token_id

    def set_password(self, username: str, password: str) -> None:
        with self.c.db.write() as session:
            user = session.scalar(select(User).where(User.username == username))
            assert user is not None
            user.password_hash = self.c.hasher.hash(password)
            session.commit()


Build = Callable[[Ctx, Caller], tuple[str, Any]]


def plain(path: str) -> Build:
    return lambda ctx, who: (path, None)


def team(path: str) -> Build:
    return lambda ctx, who: (path.format(team_id=ctx.world.team_ids[who.team]), None)


def slug(who: Caller) -> str:
    return who.label.replace("_", "-")


def change_password(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    current = "the-current-password-1"
    if who.username is not None:
        ctx.set_password(who.username, current)
    return "/api/v1/me/password", {
        "current_password": current,
        "new_password": "a-brand-new-password-2",
    }


def user_target(suffix: str = "", body: Any = None) -> Build:
    def build(ctx: Ctx, who: Caller) -> tuple[str, Any]:
        user_id, _ = ctx.fresh_user()
        return f"/api/v1/users/{user_id}{suffix}", body

    return build


def add_member(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    _, name = ctx.fresh_user()
    return f"/api/v1/teams/{ctx.world.team_ids[who.team]}/members", {"username": name}


def remove_member(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    user_id, _ = ctx.fresh_user(team=who.team)
    return f"/api/v1/teams/{ctx.world.team_ids[who.team]}/members/{user_id}", None


def revoke_token(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    token_id = ctx.fresh_token_id(who.username) if who.username else 1
    return f"/api/v1/tokens/{token_id}", None


# -- certificates and authorities -----------------------------------------------------------


def issuing_ca_id(ctx: Ctx) -> int:
    with ctx.c.db.read() as session:
        ca_id = session.scalar(select(Authority.id).where(Authority.name == "local-issuing-ca"))
    assert ca_id is not None
    return ca_id


def fresh_certificate(ctx: Ctx, team_name: str) -> int:
    """A certificate of ``team_name``, issued by an admin through the API."""
    ctx.n += 1
    r = ctx.client.post(
        "/api/v1/certificates",
        headers=ctx.world.headers("admin2"),
        json={
            "team_id": ctx.world.team_ids[team_name],
            "authority_id": issuing_ca_id(ctx),
            "subject_alternative_names": {"dns_names": [f"fixture-{ctx.n}.example.com"]},
        },
    )
    assert r.status_code == 201, r.text
    cert_id: int = r.json()["id"]
    return cert_id


def issue_certificate(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    ctx.n += 1
    return "/api/v1/certificates", {
        "team_id": ctx.world.team_ids[who.team],
        "authority_id": issuing_ca_id(ctx),
        "subject_alternative_names": {"dns_names": [f"{slug(who)}-{ctx.n}.example.com"]},
    }


def check_names(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    return "/api/v1/certificates/name-check", {
        "team_id": ctx.world.team_ids[who.team],
        "names": ["shop.example.com"],
    }


def import_certificate(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    ctx.n += 1
    leaf = make_leaf(make_ca(f"Import CA {ctx.n}"), f"imported-{ctx.n}.example.com")
    return "/api/v1/certificates/import", {
        "team_id": ctx.world.team_ids[who.team],
        "certificate": pem(leaf[1]),
    }


def on_certificate(suffix: str = "", body: Any = None) -> Build:
    """A route on a fresh certificate of the caller's own or the other team."""

    def build(ctx: Ctx, who: Caller) -> tuple[str, Any]:
        return f"/api/v1/certificates/{fresh_certificate(ctx, who.team)}{suffix}", body

    return build


def create_authority(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    ctx.n += 1
    name = f"ca-{slug(who)}-{ctx.n}"
    return "/api/v1/authorities", {"name": name, "subject": {"common_name": name}}


def import_authority(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    ctx.n += 1
    name = f"ext-{slug(who)}-{ctx.n}"
    return "/api/v1/authorities/import", {"name": name, "certificate": pem(make_ca(name)[1])}


def authority_detail(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    return f"/api/v1/authorities/{issuing_ca_id(ctx)}", None


def fresh_authority(ctx: Ctx, *, active: bool) -> int:
    """An external CA of its own per call, so that each caller finds it in the same state."""
    ctx.n += 1
    name = f"switch-{ctx.n}"
    with Services(ctx.c, cli_principal()) as services:
        service = services.authorities()
        authority_id = service.import_external(name, pem(make_ca(name)[1]).encode()).id
        if not active:
            service.deactivate(authority_id)
    return authority_id


def deactivate_authority(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    return f"/api/v1/authorities/{fresh_authority(ctx, active=True)}/deactivate", None


def activate_authority(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    return f"/api/v1/authorities/{fresh_authority(ctx, active=False)}/activate", None


def update_authority(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    ctx.n += 1
    path = f"/api/v1/authorities/{issuing_ca_id(ctx)}"
    return path, {"description": f"changed by {slug(who)} ({ctx.n})"}


def check_connection(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    """The connection check of an authority reached through the real cfssl peer."""
    if ctx.remote_authority is None:
        from lemur.authorities.specs import RemoteAuthoritySpec

        assert ctx.request is not None
        peer = ctx.request.getfixturevalue("cfssl_peer")
        with Services(ctx.c, cli_principal()) as services:
            ctx.remote_authority = (
                services.authorities()
                .create_remote(
                    RemoteAuthoritySpec(
                        name="matrix-cfssl", plugin="cfssl", options={"url": peer.url}
                    )
                )
                .id
            )
    return f"/api/v1/authorities/{ctx.remote_authority}/check", None


def fresh_request(ctx: Ctx, team_name: str) -> int:
    """A pending request of the team (as a CA that answers later leaves one)."""
    import datetime as dt

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from lemur.crypto.keys import KeySpec
    from lemur.crypto.names import SubjectAltNames
    from lemur.crypto.profiles import Profile
    from lemur.orders.store import new_request
    from lemur.plugins.values import IssuanceRequest, Pending

    ctx.n += 1
    name = f"pending-{ctx.n}.example.com"
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=True)
        .sign(key, hashes.SHA256())
    )
    now = ctx.c.clock.now()
    request = IssuanceRequest(
        public_key=key.public_key(),
        key_spec=KeySpec.EC_P256,
        common_name=None,
        sans=SubjectAltNames(dns_names=(name,)),
        profile=Profile.SERVER,
        not_before=now,
        not_after=now + dt.timedelta(days=30),
        csr=csr,
    )
    with ctx.c.db.write() as session:
        row = new_request(
            session,
            authority_id=issuing_ca_id(ctx),
            team_id=ctx.world.team_ids[team_name],
            requested_by="user:member",
            pending=Pending(f"https://ca.example/order/{ctx.n}"),
            request=request,
            private_key=None,
            replaces_id=None,
            now=now,
        )
        session.commit()
        return row.id


def on_request(suffix: str = "") -> Build:
    def build(ctx: Ctx, who: Caller) -> tuple[str, Any]:
        return f"/api/v1/requests/{fresh_request(ctx, who.team)}{suffix}", None

    return build


def job_in(state: str) -> Build:
    """A route on a fresh job in ``state`` (one the runners of the tests never run)."""

    def build(ctx: Ctx, who: Caller) -> tuple[str, Any]:
        from lemur.jobs.models import JOBS
        from lemur.jobs.outbox import enqueue

        with ctx.c.db.write() as session:
            job_id = enqueue(session, "matrix.idle", {}, now=ctx.c.clock.now())
            session.execute(JOBS.update().where(JOBS.c.id == job_id).values(state=state))
            session.commit()
        suffix = {"failed": "/retry", "pending": "/cancel"}.get(state, "")
        return f"/api/v1/jobs/{job_id}{suffix}", None

    return build


# -- notifications ----------------------------------------------------------------------------


def fresh_channel(ctx: Ctx) -> int:
    ctx.n += 1
    with Services(ctx.c, cli_principal()) as services:
        return (
            services.notifications()
            .create_channel(
                f"matrix-{ctx.n}",
                "webhook",
                {"url": "https://hooks.example.test/x", "secret": "s" * 20},
            )
            .id
        )


def create_channel(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    ctx.n += 1
    return "/api/v1/notifications/channels", {
        "name": f"ch-{slug(who)}-{ctx.n}",
        "plugin": "webhook",
        "options": {"url": "https://hooks.example.test/x", "secret": "s" * 20},
    }


def on_channel(suffix: str = "", body: Any = None) -> Build:
    return lambda ctx, who: (f"/api/v1/notifications/channels/{fresh_channel(ctx)}{suffix}", body)


def fresh_rule(ctx: Ctx) -> int:
    from lemur.notifications.events import Event
    from lemur.notifications.service import RuleInput

    channel_id = fresh_channel(ctx)
    with Services(ctx.c, cli_principal()) as services:
        return (
            services.notifications()
            .create_rule(
                RuleInput(
                    f"rule-{ctx.n}",
                    channel_id,
                    (Event.EXPIRING,),
                    (30, 7),
                    True,
                    False,
                    (),
                    None,
                    True,
                )
            )
            .id
        )


def create_rule(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    return "/api/v1/notifications/rules", {
        "name": f"rule-{slug(who)}-{ctx.n}",
        "channel_id": fresh_channel(ctx),
        "events": ["expiring"],
    }


def on_rule(body: Any = None) -> Build:
    return lambda ctx, who: (f"/api/v1/notifications/rules/{fresh_rule(ctx)}", body)


def muted_certificate(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    cert_id = fresh_certificate(ctx, who.team)
    with Services(ctx.c, cli_principal()) as services:
        services.notifications().mute(cert_id, "matrix")
    return f"/api/v1/certificates/{cert_id}/mute", None


def archived_certificate(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    cert_id = fresh_certificate(ctx, who.team)
    with Services(ctx.c, cli_principal()) as services:
        services.editing().archive(cert_id)
    return f"/api/v1/certificates/{cert_id}/unarchive", None


# -- destinations and deployments -------------------------------------------------------------


def destination_dir(ctx: Ctx) -> str:
    """A fresh base directory for a ``directory`` destination (a real one on this disk)."""
    import tempfile

    return tempfile.mkdtemp(prefix="matrix-dest-")


def fresh_destination(ctx: Ctx, *, endpoint: bool = False) -> int:
    from lemur.deployments.views import EndpointKind, EndpointSpec

    ctx.n += 1
    endpoints = (
        [EndpointSpec(EndpointKind.TLS, host="127.0.0.1", port=9, sni=f"e{ctx.n}.example.com")]
        if endpoint
        else []
    )
    with Services(ctx.c, cli_principal()) as services:
        return (
            services.destinations()
            .create(
                f"matrix-dest-{ctx.n}",
                "directory",
                {"directory": destination_dir(ctx)},
                endpoints=endpoints,
            )
            .id
        )


def create_destination(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    ctx.n += 1
    return "/api/v1/destinations", {
        "name": f"dest-{slug(who)}-{ctx.n}",
        "plugin": "directory",
        "options": {"directory": destination_dir(ctx)},
    }


def on_destination(suffix: str = "", body: Any = None) -> Build:
    return lambda ctx, who: (f"/api/v1/destinations/{fresh_destination(ctx)}{suffix}", body)


def destination_endpoint(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    destination_id = fresh_destination(ctx, endpoint=True)
    with Services(ctx.c, cli_principal()) as services:
        endpoint_id = services.destinations().get(destination_id).endpoints[0].id
    return f"/api/v1/destinations/{destination_id}/endpoints/{endpoint_id}", None


def deploy_to_fresh_destination(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    cert_id = fresh_certificate(ctx, who.team)
    return f"/api/v1/certificates/{cert_id}/deploy", {"destinations": [fresh_destination(ctx)]}


def deployed_certificate(ctx: Ctx, team_name: str) -> tuple[int, int]:
    """A certificate of the team attached to a fresh destination (its job not run)."""
    cert_id = fresh_certificate(ctx, team_name)
    destination_id = fresh_destination(ctx)
    with Services(ctx.c, cli_principal()) as services:
        services.deployments().add(cert_id, [destination_id])
    return cert_id, destination_id


def remove_from_destination(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    cert_id, destination_id = deployed_certificate(ctx, who.team)
    return f"/api/v1/certificates/{cert_id}/destinations/{destination_id}", None


def rotate_certificate(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    old_id, _ = deployed_certificate(ctx, who.team)
    new_id = fresh_certificate(ctx, who.team)
    return f"/api/v1/certificates/{old_id}/rotate", {"to": new_id}


def authority_blast_radius(ctx: Ctx, who: Caller) -> tuple[str, Any]:
    return f"/api/v1/authorities/{issuing_ca_id(ctx)}/blast-radius", None


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    action: Action | None  # None: PUBLIC
    outcomes: str  # one code per PRINCIPALS column, or PUBLIC
    build: Build
    # A route that changes nothing although its method is not GET (a POST that carries a
    # secret in the body rather than the URL) writes no audit event.
    changes_state: bool | None = None

    @property
    def audited(self) -> bool:
        return self.method != "GET" if self.changes_state is None else self.changes_state

    def expected(self) -> dict[str, str]:
        if self.outcomes == PUBLIC:
            return dict.fromkeys((*PRINCIPALS, "anonymous"), "A")
        codes = self.outcomes.split()
        assert len(codes) == len(PRINCIPALS), self
        return {**dict(zip(PRINCIPALS, codes, strict=True)), "anonymous": "401"}

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


# fmt: off
#   method    path                                          action                   admin sec own other ro rtok
ROUTES = [
    Row("GET",    "/api/v1/openapi.json",                      None,                    PUBLIC,        plain("/api/v1/openapi.json")),
    Row("GET",    "/api/v1/docs",                              None,                    PUBLIC,        plain("/api/v1/docs")),
    Row("GET",    "/api/v1/me",                                Action.SELF_READ,        "A A A A A A", plain("/api/v1/me")),
    Row("POST",   "/api/v1/me/password",                       Action.SELF_UPDATE,      "A A A A A S", change_password),
    Row("GET",    "/api/v1/users",                             Action.USER_READ,        "A A D D D A", plain("/api/v1/users")),
    Row("POST",   "/api/v1/users",                             Action.USER_MANAGE,      "A D D D D S", lambda ctx, who: ("/api/v1/users", {"username": f"new-{slug(who)}"})),
    Row("GET",    "/api/v1/users/{user_id}",                   Action.USER_READ,        "A A D D D A", user_target()),
    Row("PATCH",  "/api/v1/users/{user_id}",                   Action.USER_MANAGE,      "A D D D D S", user_target(body={"role": "security"})),
    Row("POST",   "/api/v1/users/{user_id}/reset-password",    Action.USER_MANAGE,      "A D D D D S", user_target("/reset-password")),
    Row("GET",    "/api/v1/teams",                             Action.TEAM_READ,        "A A A A A A", plain("/api/v1/teams")),
    Row("POST",   "/api/v1/teams",                             Action.TEAM_MANAGE,      "A D D D D S", lambda ctx, who: ("/api/v1/teams", {"name": f"team-{slug(who)}"})),
    Row("GET",    "/api/v1/teams/{team_id}",                   Action.TEAM_READ,        "A A A A A A", team("/api/v1/teams/{team_id}")),
    Row("POST",   "/api/v1/teams/{team_id}/members",           Action.TEAM_MANAGE,      "A D D D D S", add_member),
    Row("DELETE", "/api/v1/teams/{team_id}/members/{user_id}", Action.TEAM_MANAGE,      "A D D D D S", remove_member),
    Row("GET",    "/api/v1/tokens",                            Action.SELF_READ,        "A A A A A A", plain("/api/v1/tokens")),
    Row("POST",   "/api/v1/tokens",                            Action.TOKEN_MANAGE_OWN, "A A A A A S", lambda ctx, who: ("/api/v1/tokens", {"name": f"matrix-{slug(who)}", "scope": "read"})),
    Row("DELETE", "/api/v1/tokens/{token_id}",                 Action.TOKEN_MANAGE_OWN, "A A A A A S", revoke_token),
    Row("GET",    "/api/v1/audit-events",                      Action.AUDIT_READ,       "A A D D D A", plain("/api/v1/audit-events")),
    Row("GET",    "/api/v1/audit-events/verification",         Action.AUDIT_READ,       "A A D D D A", plain("/api/v1/audit-events/verification")),
    Row("GET",    "/api/v1/jobs",                              Action.JOB_READ,         "A A D D D A", plain("/api/v1/jobs")),
    Row("GET",    "/api/v1/jobs/kinds",                        Action.JOB_READ,         "A A D D D A", plain("/api/v1/jobs/kinds")),
    Row("GET",    "/api/v1/jobs/{job_id}",                     Action.JOB_READ,         "A A D D D A", job_in("succeeded")),
    Row("POST",   "/api/v1/jobs/{job_id}/retry",               Action.JOB_MANAGE,       "A A D D D S", job_in("failed")),
    Row("POST",   "/api/v1/jobs/{job_id}/cancel",              Action.JOB_MANAGE,       "A A D D D S", job_in("pending")),
    # A ping enqueues a noop job (visible in the job list) and is not audited.
    Row("POST",   "/api/v1/jobs/ping",                         Action.JOB_MANAGE,       "A A D D D S", plain("/api/v1/jobs/ping"), changes_state=False),
    Row("GET",    "/api/v1/plugins",                           Action.SELF_READ,        "A A A A A A", plain("/api/v1/plugins")),
    Row("GET",    "/api/v1/authorities",                       Action.AUTHORITY_READ,   "A A A A A A", plain("/api/v1/authorities")),
    Row("POST",   "/api/v1/authorities",                       Action.AUTHORITY_MANAGE, "A A D D D S", create_authority),
    Row("POST",   "/api/v1/authorities/import",                Action.AUTHORITY_MANAGE, "A A D D D S", import_authority),
    Row("GET",    "/api/v1/authorities/{authority_id}",        Action.AUTHORITY_READ,   "A A A A A A", authority_detail),
    Row("POST",   "/api/v1/authorities/{authority_id}/deactivate", Action.AUTHORITY_MANAGE, "A A D D D S", deactivate_authority),
    Row("POST",   "/api/v1/authorities/{authority_id}/activate",   Action.AUTHORITY_MANAGE, "A A D D D S", activate_authority),
    Row("PATCH",  "/api/v1/authorities/{authority_id}",        Action.AUTHORITY_MANAGE, "A A D D D S", update_authority),
    Row("POST",   "/api/v1/authorities/{authority_id}/check",  Action.AUTHORITY_MANAGE, "A A D D D S", check_connection),
    Row("PUT",    "/api/v1/authorities/{authority_id}/renewal-policy", Action.AUTHORITY_MANAGE, "A A D D D S", lambda ctx, who: (f"/api/v1/authorities/{issuing_ca_id(ctx)}/renewal-policy", {"renewal_policy": "auto"})),
    Row("PUT",    "/api/v1/teams/{team_id}/renewal-policy",    Action.TEAM_MANAGE,      "A D D D D S", lambda ctx, who: (f"/api/v1/teams/{ctx.world.team_ids[who.team]}/renewal-policy", {"renewal_policy": "notify"})),
    Row("DELETE", "/api/v1/teams/{team_id}/renewal-policy",    Action.TEAM_MANAGE,      "A D D D D S", team("/api/v1/teams/{team_id}/renewal-policy")),
    Row("POST",   "/api/v1/renewals/run",                      Action.JOB_MANAGE,       "A A D D D S", plain("/api/v1/renewals/run")),
    # team-scoped: the member columns differ from here on
    Row("GET",    "/api/v1/certificates",                      Action.CERTIFICATE_READ,   "A A A A A A", plain("/api/v1/certificates")),
    Row("POST",   "/api/v1/certificates",                      Action.CERTIFICATE_ISSUE,  "A A A D D S", issue_certificate),
    Row("POST",   "/api/v1/certificates/import",               Action.CERTIFICATE_IMPORT, "A A A D D S", import_certificate),
    # Who may issue may check names (for a team they may issue for); nothing is written.
    Row("POST",   "/api/v1/certificates/name-check",           Action.CERTIFICATE_ISSUE,  "A A A D D S", check_names, changes_state=False),
    Row("GET",    "/api/v1/certificates/{certificate_id}",     Action.CERTIFICATE_READ,   "A A A H A A", on_certificate()),
    Row("GET",    "/api/v1/certificates/{certificate_id}/export", Action.CERTIFICATE_READ, "A A A H A A", on_certificate("/export?format=pem-bundle")),
    Row("POST",   "/api/v1/certificates/{certificate_id}/export", Action.CERTIFICATE_READ, "A A A H A S", on_certificate("/export", {"format": "pem-bundle"}), changes_state=False),
    Row("POST",   "/api/v1/certificates/{certificate_id}/revoke", Action.CERTIFICATE_REVOKE, "A A A H D S", on_certificate("/revoke", {"reason": "superseded"})),
    Row("POST",   "/api/v1/certificates/{certificate_id}/renew",  Action.CERTIFICATE_ISSUE,  "A A A H D S", on_certificate("/renew", {})),
    Row("PUT",    "/api/v1/certificates/{certificate_id}/renewal-policy", Action.CERTIFICATE_ISSUE, "A A A H D S", on_certificate("/renewal-policy", {"renewal_policy": "notify", "renew_before_days": 20})),
    Row("DELETE", "/api/v1/certificates/{certificate_id}/renewal-policy", Action.CERTIFICATE_ISSUE, "A A A H D S", on_certificate("/renewal-policy")),
    Row("PATCH",  "/api/v1/certificates/{certificate_id}",     Action.CERTIFICATE_UPDATE,  "A A A H D S", on_certificate("", {"description": "payments API, eu-west", "notify": False})),
    Row("POST",   "/api/v1/certificates/{certificate_id}/archive",   Action.CERTIFICATE_ARCHIVE, "A A A H D S", on_certificate("/archive")),
    Row("POST",   "/api/v1/certificates/{certificate_id}/unarchive", Action.CERTIFICATE_ARCHIVE, "A A A H D S", archived_certificate),
    Row("GET",    "/api/v1/requests",                          Action.CERTIFICATE_READ,   "A A A A A A", plain("/api/v1/requests")),
    Row("GET",    "/api/v1/requests/{request_id}",             Action.CERTIFICATE_READ,   "A A A H A A", on_request()),
    Row("POST",   "/api/v1/requests/{request_id}/cancel",      Action.CERTIFICATE_ISSUE,  "A A A H D S", on_request("/cancel")),
    Row("GET",    "/api/v1/renewals/preview",                  Action.CERTIFICATE_READ,   "A A A A A A", plain("/api/v1/renewals/preview")),
    # The caller's own teams' figures (scope=mine); scope=all is tested in test_statistics.py.
    Row("GET",    "/api/v1/statistics",                        Action.CERTIFICATE_READ,   "A A A A A A", plain("/api/v1/statistics")),
    Row("PUT",    "/api/v1/certificates/{certificate_id}/mute",   Action.CERTIFICATE_MUTE,   "A A A H D S", on_certificate("/mute", {"reason": "retiring"})),
    Row("DELETE", "/api/v1/certificates/{certificate_id}/mute",   Action.CERTIFICATE_MUTE,   "A A A H D S", muted_certificate),
    Row("GET",    "/api/v1/notifications/channels",              Action.NOTIFICATION_READ,   "A A D D D A", plain("/api/v1/notifications/channels")),
    Row("POST",   "/api/v1/notifications/channels",              Action.NOTIFICATION_MANAGE, "A A D D D S", create_channel),
    Row("GET",    "/api/v1/notifications/channels/{channel_id}", Action.NOTIFICATION_READ,   "A A D D D A", on_channel()),
    Row("PATCH",  "/api/v1/notifications/channels/{channel_id}", Action.NOTIFICATION_MANAGE, "A A D D D S", on_channel(body={"enabled": False})),
    Row("DELETE", "/api/v1/notifications/channels/{channel_id}", Action.NOTIFICATION_MANAGE, "A A D D D S", on_channel()),
    Row("POST",   "/api/v1/notifications/channels/{channel_id}/test", Action.NOTIFICATION_MANAGE, "A A D D D S", on_channel("/test", {})),
    Row("GET",    "/api/v1/notifications/rules",                 Action.NOTIFICATION_READ,   "A A D D D A", plain("/api/v1/notifications/rules")),
    Row("POST",   "/api/v1/notifications/rules",                 Action.NOTIFICATION_MANAGE, "A A D D D S", create_rule),
    Row("GET",    "/api/v1/notifications/rules/{rule_id}",       Action.NOTIFICATION_READ,   "A A D D D A", on_rule()),
    Row("PATCH",  "/api/v1/notifications/rules/{rule_id}",       Action.NOTIFICATION_MANAGE, "A A D D D S", on_rule({"enabled": False})),
    Row("DELETE", "/api/v1/notifications/rules/{rule_id}",       Action.NOTIFICATION_MANAGE, "A A D D D S", on_rule()),
    Row("GET",    "/api/v1/notifications/messages",              Action.NOTIFICATION_READ,   "A A D D D A", plain("/api/v1/notifications/messages")),
    Row("GET",    "/api/v1/notifications/mutes",                 Action.NOTIFICATION_READ,   "A A D D D A", plain("/api/v1/notifications/mutes")),
    # Everyone sees the destinations (to choose one); staff configure them.
    Row("GET",    "/api/v1/destinations",                        Action.DESTINATION_READ,    "A A A A A A", plain("/api/v1/destinations")),
    Row("POST",   "/api/v1/destinations",                        Action.DESTINATION_MANAGE,  "A A D D D S", create_destination),
    Row("GET",    "/api/v1/destinations/{destination_id}",       Action.DESTINATION_READ,    "A A A A A A", on_destination()),
    Row("PATCH",  "/api/v1/destinations/{destination_id}",       Action.DESTINATION_MANAGE,  "A A D D D S", on_destination(body={"description": "web tier"})),
    Row("DELETE", "/api/v1/destinations/{destination_id}",       Action.DESTINATION_MANAGE,  "A A D D D S", on_destination()),
    Row("POST",   "/api/v1/destinations/{destination_id}/check", Action.DESTINATION_MANAGE,  "A A D D D S", on_destination("/check")),
    Row("POST",   "/api/v1/destinations/{destination_id}/endpoints", Action.DESTINATION_MANAGE, "A A D D D S", on_destination("/endpoints", {"host": "127.0.0.1", "port": 8443, "sni": "www.example.com"})),
    Row("DELETE", "/api/v1/destinations/{destination_id}/endpoints/{endpoint_id}", Action.DESTINATION_MANAGE, "A A D D D S", destination_endpoint),
    Row("GET",    "/api/v1/certificates/{certificate_id}/deployments",  Action.CERTIFICATE_READ,   "A A A H A A", on_certificate("/deployments")),
    Row("GET",    "/api/v1/certificates/{certificate_id}/blast-radius", Action.CERTIFICATE_READ,   "A A A H A A", on_certificate("/blast-radius")),
    Row("POST",   "/api/v1/certificates/{certificate_id}/deploy",       Action.CERTIFICATE_DEPLOY, "A A A H D S", deploy_to_fresh_destination),
    Row("DELETE", "/api/v1/certificates/{certificate_id}/destinations/{destination_id}", Action.CERTIFICATE_DEPLOY, "A A A H D S", remove_from_destination),
    Row("POST",   "/api/v1/certificates/{certificate_id}/rotate",       Action.CERTIFICATE_DEPLOY, "A A A H D S", rotate_certificate),
    Row("GET",    "/api/v1/authorities/{authority_id}/blast-radius",    Action.AUTHORITY_READ,     "A A A A A A", authority_blast_radius),
    # operations (outside /api/v1, where scrapers expect it)
    Row("GET",    "/metrics",                                  Action.METRICS_READ,     "A A D D D A", plain("/metrics")),
]
# fmt: on
TABLE = {(r.method, r.path): r for r in ROUTES}
OUTSIDE_API = frozenset({"/metrics"})


def api_routes(container: Container) -> Iterator[tuple[str, str, Any]]:
    """(method, path, route context) for every route of the real application under /api/v1,
    and the authenticated routes outside it."""
    for route in iter_route_contexts(create_app(container).routes):
        path = route.path
        if path is None or not (
            path == "/api/v1" or path.startswith("/api/v1/") or path in OUTSIDE_API
        ):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            yield method, path, route


def guarding_actions(route: Any) -> list[Action]:
    """The actions of every require(...) dependency of a route, however deeply nested."""
    found: list[Action] = []
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        action = getattr(dep.call, "lemur_action", None)
        if action is not None:
            found.append(action)
        stack.extend(dep.dependencies)
    return found


def test_table_rows_are_unique() -> None:
    assert len(TABLE) == len(ROUTES)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_api_route_is_in_the_table_and_every_row_is_a_route(container: Container) -> None:
    live = {(method, path) for method, path, _ in api_routes(container)}
    missing = sorted(live - set(TABLE))
    stale = sorted(set(TABLE) - live)
    assert not missing, f"routes without a row in the authorization matrix: {missing}"
    assert not stale, f"rows in the authorization matrix for routes that do not exist: {stale}"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_route_is_guarded_by_require_unless_public(container: Container) -> None:
    for method, path, route in api_routes(container):
        row = TABLE.get((method, path))
        if row is None:
            continue  # reported by the completeness test above
        if row.action is None:
            assert not isinstance(route.original_route, APIRoute) or not guarding_actions(route), (
                row.id
            )
            continue
        assert isinstance(route.original_route, APIRoute), row.id
        assert guarding_actions(route) == [row.action], (
            f"{row.id} must depend on exactly require({row.action!r})"
        )


def _audit_count(container: Container) -> int:
    with container.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def _newest_event(container: Container) -> AuditEvent:
    with container.db.read() as session:
        event = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
        session.expunge(event)
        return event


@pytest.mark.parametrize("row", ROUTES, ids=lambda r: r.id)
def test_matrix(
    row: Row,
    client: TestClient,
    world: World,
    container: Container,
    request: pytest.FixtureRequest,
) -> None:
    ctx = Ctx(world, client, request)
    read_token = world.add_token("admin2", scope=TokenScope.READ, name="matrix-read")
    expected = row.expected()
    for label, outcome in expected.items():
        who = CALLERS[label]
        headers: dict[str, str] = {}
        if who.username is not None:
            token = read_token if who.scope is TokenScope.READ else world.tokens[who.username]
            headers["Authorization"] = f"Bearer {token}"
        path, body = row.build(ctx, who)
        events_before = _audit_count(container)
        r = client.request(row.method, path, headers=headers, json=body)
        where = f"{row.id} as {label}: {r.status_code} {r.text[:300]}"
        if outcome == "A":
            assert 200 <= r.status_code < 300, where
        elif outcome == "401":
            assert r.status_code == 401, where
            assert r.json()["error"]["code"] == "authentication_required", where
        elif outcome == "H":
            assert r.status_code == 404, where
            assert r.json()["error"]["code"] in ("certificate_not_found", "request_not_found"), (
                where
            )
        else:
            assert r.status_code == 403, where
            code = "token_scope_insufficient" if outcome == "S" else "permission_denied"
            assert r.json()["error"]["code"] == code, where
        # Every allowed state-changing call leaves exactly one audit event naming its caller;
        # a refused one leaves nothing.
        if row.audited and outcome == "A":
            assert _audit_count(container) == events_before + 1, where
            event = _newest_event(container)
            assert event.actor == f"user:{who.username}", where
            assert event.client_address == "192.0.2.10", where
            assert event.outcome == "success", where
        else:
            assert _audit_count(container) == events_before, where


def test_member_columns_name_both_teams() -> None:
    """The member columns differ only in the team they act on: the shape is ready for
    team-scoped actions."""
    own, other = CALLERS["member-own-team"], CALLERS["member-other-team"]
    assert own.username == other.username
    assert {own.team, other.team} == {"own", "other"}
