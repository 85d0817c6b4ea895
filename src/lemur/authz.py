"""Who may do what: the one place that decides.

A principal has one global role and belongs to teams. Actions are either global (the role
alone decides) or team-scoped (members may act on what their own teams own; security and
admin on everything). Handlers ask :func:`authorize` before calling a service; the
authorization-matrix test walks every route and checks the answer for every role and for
own and other teams.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lemur.accounts.models import Role, TokenScope
from lemur.audit.service import Actor
from lemur.errors import PermissionDenied


class Action(enum.StrEnum):
    # accounts
    SELF_READ = "self.read"
    SELF_UPDATE = "self.update"
    TOKEN_MANAGE_OWN = "token.manage_own"
    USER_READ = "user.read"
    USER_MANAGE = "user.manage"
    TEAM_READ = "team.read"
    TEAM_MANAGE = "team.manage"
    # audit
    AUDIT_READ = "audit.read"
    # jobs
    JOB_READ = "job.read"
    JOB_MANAGE = "job.manage"
    # notifications
    NOTIFICATION_READ = "notification.read"
    NOTIFICATION_MANAGE = "notification.manage"
    # authorities
    AUTHORITY_READ = "authority.read"
    AUTHORITY_MANAGE = "authority.manage"
    # destinations (where certificates are deployed)
    DESTINATION_READ = "destination.read"
    DESTINATION_MANAGE = "destination.manage"
    # certificates (team-scoped)
    CERTIFICATE_READ = "certificate.read"
    CERTIFICATE_ISSUE = "certificate.issue"
    CERTIFICATE_IMPORT = "certificate.import"
    CERTIFICATE_REVOKE = "certificate.revoke"
    CERTIFICATE_EXPORT_KEY = "certificate.export_key"
    CERTIFICATE_MUTE = "certificate.mute"
    CERTIFICATE_UPDATE = "certificate.update"
    CERTIFICATE_ARCHIVE = "certificate.archive"
    CERTIFICATE_DEPLOY = "certificate.deploy"
    # operations
    METRICS_READ = "metrics.read"


ALL_ROLES = frozenset(Role)
STAFF = frozenset({Role.ADMIN, Role.SECURITY})

# Global actions: the roles allowed.
GLOBAL: dict[Action, frozenset[Role]] = {
    Action.SELF_READ: ALL_ROLES,
    Action.SELF_UPDATE: ALL_ROLES,
    Action.TOKEN_MANAGE_OWN: ALL_ROLES,
    Action.USER_READ: STAFF,
    Action.USER_MANAGE: frozenset({Role.ADMIN}),
    Action.TEAM_READ: ALL_ROLES,
    Action.TEAM_MANAGE: frozenset({Role.ADMIN}),
    Action.AUDIT_READ: STAFF,
    Action.JOB_READ: STAFF,
    Action.JOB_MANAGE: STAFF,
    Action.NOTIFICATION_READ: STAFF,
    Action.NOTIFICATION_MANAGE: STAFF,
    Action.AUTHORITY_READ: ALL_ROLES,
    Action.AUTHORITY_MANAGE: STAFF,
    # Everyone may see the destinations (names, public options, endpoints) to choose one;
    # their credentials are configured by staff and never shown.
    Action.DESTINATION_READ: ALL_ROLES,
    Action.DESTINATION_MANAGE: STAFF,
    Action.METRICS_READ: STAFF,
}

# Team-scoped actions: roles allowed on any team, and roles allowed on their own teams.
MEMBER = frozenset({Role.MEMBER})
TEAM_SCOPED: dict[Action, tuple[frozenset[Role], frozenset[Role]]] = {
    # Read-only users see every certificate's public data, never a key.
    Action.CERTIFICATE_READ: (frozenset({Role.ADMIN, Role.SECURITY, Role.READ_ONLY}), MEMBER),
    Action.CERTIFICATE_ISSUE: (STAFF, MEMBER),
    Action.CERTIFICATE_IMPORT: (STAFF, MEMBER),
    Action.CERTIFICATE_REVOKE: (STAFF, MEMBER),
    Action.CERTIFICATE_EXPORT_KEY: (STAFF, MEMBER),
    Action.CERTIFICATE_MUTE: (STAFF, MEMBER),
    # Editing (team, description, notifications) and archiving: moving to another team needs
    # the action on both teams (lemur.certificates.editing).
    Action.CERTIFICATE_UPDATE: (STAFF, MEMBER),
    Action.CERTIFICATE_ARCHIVE: (STAFF, MEMBER),
    # Deploying sends the key to a destination (never to the caller): a member may deploy
    # their team's certificates to destinations open to their team.
    Action.CERTIFICATE_DEPLOY: (STAFF, MEMBER),
}

# Actions that change state; a read-scoped API token may never perform them.
WRITES = frozenset(
    {
        Action.SELF_UPDATE,
        Action.TOKEN_MANAGE_OWN,
        Action.USER_MANAGE,
        Action.TEAM_MANAGE,
        Action.AUTHORITY_MANAGE,
        Action.JOB_MANAGE,
        Action.NOTIFICATION_MANAGE,
        Action.CERTIFICATE_MUTE,
        Action.CERTIFICATE_ISSUE,
        Action.CERTIFICATE_IMPORT,
        Action.CERTIFICATE_REVOKE,
        Action.CERTIFICATE_EXPORT_KEY,
        Action.CERTIFICATE_UPDATE,
        Action.CERTIFICATE_ARCHIVE,
        Action.CERTIFICATE_DEPLOY,
        Action.DESTINATION_MANAGE,
    }
)


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``user_id`` is None only for the local CLI and for the
    anonymous public principal."""

    user_id: int | None
    username: str
    role: Role
    team_ids: frozenset[int]
    via: str  # "session" | "token" | "cli" | "public" | "job"
    token_scope: TokenScope | None = None
    client_address: str | None = None
    acting_as: str | None = None  # set when the CLI acts for a user: the audit names "cli"

    @property
    def audit_actor(self) -> Actor:
        """Who the audit log names for what this principal does, and from where."""
        return Actor(self.actor_name, self.client_address)

    @property
    def actor_name(self) -> str:
        if self.acting_as is not None:
            return self.acting_as
        if self.via == "public":
            return "public"
        return "cli" if self.user_id is None else f"user:{self.username}"


def cli_principal() -> Principal:
    """The operator at the server's own console (``lemur`` admin commands)."""
    return Principal(user_id=None, username="cli", role=Role.ADMIN, team_ids=frozenset(), via="cli")


def public_principal() -> Principal:
    """Anyone on the network, unauthenticated: relying parties fetching a CRL, an OCSP
    answer or a CA certificate. Read-only role and no teams, so any action that needs
    more than public data is refused; what it writes (a CRL signed anew) is audited as
    ``public``."""
    return Principal(
        user_id=None, username="public", role=Role.READ_ONLY, team_ids=frozenset(), via="public"
    )


def system_principal(job_kind: str) -> Principal:
    """Lemur itself, running a job (a renewal, a notification pass): the admin role, no
    user. The audit log names it ``job:<kind>``."""
    return Principal(
        user_id=None,
        username=f"job:{job_kind}",
        role=Role.ADMIN,
        team_ids=frozenset(),
        via="job",
        acting_as=f"job:{job_kind}",
    )


def allowed(principal: Principal, action: Action, *, team_id: int | None = None) -> bool:
    if action in GLOBAL:
        return principal.role in GLOBAL[action]
    any_team, own_team = TEAM_SCOPED[action]
    if principal.role in any_team:
        return True
    if team_id is None:
        # Listing: a member may list, and the query restricts rows to their teams.
        return principal.role in own_team
    return principal.role in own_team and team_id in principal.team_ids


def authorize(principal: Principal, action: Action, *, team_id: int | None = None) -> None:
    """Raise PermissionDenied unless ``principal`` may perform ``action``."""
    if action in WRITES and principal.token_scope is TokenScope.READ:
        raise PermissionDenied(
            "this API token is read-only; create a token with scope 'write'",
            code="token_scope_insufficient",
        )
    if not allowed(principal, action, team_id=team_id):
        raise PermissionDenied(
            f"your role ({principal.role.value}) may not {action.value}"
            + (" for this team" if team_id is not None else ""),
        )
