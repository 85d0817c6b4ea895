"""Use cases for users and teams. Each public method reads through the unit of work and
writes, with its audit event, in one write transaction that the unit of work commits, or
leaves nothing behind. The service never commits or rolls back itself."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from lemur.accounts.models import Role, Team, TeamMember, User, WebSession
from lemur.accounts.passwords import PasswordHasher, check_password_strength, one_time_password
from lemur.audit.service import AuditLog
from lemur.authz import Principal
from lemur.clock import Clock
from lemur.db import UnitOfWork
from lemur.errors import AuthenticationRequired, Conflict, InvalidInput, NotFound
from lemur.text import require_line, require_text

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_name(value: str, *, field: str, what: str, example: str = "example-name") -> str:
    """Return ``value`` if it is a valid name; otherwise raise InvalidInput with a suggestion
    derived from it (or ``example`` when nothing usable is left of it)."""
    if not NAME_RE.match(value):
        suggestion = re.sub(r"[^a-z0-9._-]+", "-", value.lower()).strip("-._")[:64]
        if not NAME_RE.match(suggestion):
            suggestion = example
        hint = f"; for example '{suggestion}'"
        raise InvalidInput(
            f"{what} must be 1-64 characters of lowercase letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit{hint}",
            code=f"invalid_{what.replace(' ', '_')}",
            field=field,
        )
    return value


def load_principal(session: Session, user: User, *, via: str, **extra: object) -> Principal:
    team_ids = frozenset(
        session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == user.id))
    )
    return Principal(
        user_id=user.id,
        username=user.username,
        role=user.role,
        team_ids=team_ids,
        via=via,
        **extra,  # type: ignore[arg-type]
    )


class AccountService:
    def __init__(
        self, uow: UnitOfWork, *, clock: Clock, hasher: PasswordHasher, actor: Principal
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._actor = actor

    def _record(
        self,
        session: Session,
        action: str,
        *,
        target_type: str,
        target_id: str | int,
        **details: str,
    ) -> None:
        AuditLog(session, self._clock).record(
            self._actor.audit_actor,
            action,
            target_type=target_type,
            target_id=target_id,
            details=details,
        )

    # users ------------------------------------------------------------------------------

    def get_user(self, user_id: int) -> User:
        """The user with their teams loaded (rendering them costs no further queries)."""
        user = self._uow.read.scalar(
            select(User)
            .where(User.id == user_id)
            .options(selectinload(User.memberships).selectinload(TeamMember.team))
            .execution_options(populate_existing=True)
        )
        if user is None:
            raise NotFound(f"no user with id {user_id}", code="user_not_found", field="user_id")
        return user

    def find_user(self, username: str, *, field: str = "username") -> User:
        user = self._uow.read.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"no user named '{username}'", code="user_not_found", field=field)
        return user

    def list_users(self) -> Sequence[User]:
        return self._uow.read.scalars(
            select(User)
            .options(selectinload(User.memberships).selectinload(TeamMember.team))
            .order_by(User.username)
        ).all()

    def create_user(
        self,
        username: str,
        *,
        role: Role,
        password: str | None = None,
        display_name: str = "",
        email: str | None = None,
    ) -> tuple[User, str | None]:
        """Create a user; without ``password`` a one-time password is made and returned."""
        check_name(username, field="username", what="username", example="jane.doe")
        # The CLI passes these straight here; the API's schema has checked them already.
        require_line(display_name, field="display_name")
        if email is not None:
            require_line(email, field="email")
        if self._uow.read.scalar(select(func.count()).where(User.username == username)):
            raise _user_exists(username)
        generated = None
        if password is None:
            password = generated = one_time_password()
        else:
            check_password_strength(password, username=username)
        # The slow password hash first, outside the write transaction.
        password_hash = self._hasher.hash(password)
        with self._uow.write() as tx:
            if tx.session.scalar(select(func.count()).where(User.username == username)):
                raise _user_exists(username)
            user = User(
                username=username,
                display_name=display_name,
                email=email,
                role=role,
                password_hash=password_hash,
                must_change_password=generated is not None,
                created_at=self._clock.now(),
            )
            tx.session.add(user)
            tx.session.flush()
            self._record(
                tx.session,
                "user.create",
                target_type="user",
                target_id=user.id,
                username=username,
                role=role.value,
            )
        return self.get_user(user.id), generated

    def _writable_user(self, session: Session, user: User) -> User:
        """The user as the write transaction sees it (it may have gone since it was read)."""
        current = session.get(User, user.id)
        if current is None:
            raise NotFound(f"no user with id {user.id}", code="user_not_found", field="user_id")
        return current

    def set_disabled(self, user: User, disabled: bool) -> User:
        if user.id == self._actor.user_id and disabled:
            raise InvalidInput(
                "you cannot disable your own account", code="cannot_disable_self", field="user_id"
            )
        with self._uow.write() as tx:
            current = self._writable_user(tx.session, user)
            current.disabled_at = self._clock.now() if disabled else None
            if disabled:
                # A disabled account loses its browser sessions at once; its tokens stop
                # working because authentication checks the account on every request.
                tx.session.execute(delete(WebSession).where(WebSession.user_id == user.id))
            self._record(
                tx.session,
                "user.disable" if disabled else "user.enable",
                target_type="user",
                target_id=user.id,
                username=current.username,
            )
        return self.get_user(user.id)

    def set_role(self, user: User, role: Role) -> User:
        if user.id == self._actor.user_id and role is not Role.ADMIN and user.role is Role.ADMIN:
            raise InvalidInput(
                "you cannot remove your own admin role", code="cannot_demote_self", field="role"
            )
        with self._uow.write() as tx:
            current = self._writable_user(tx.session, user)
            previous = current.role
            current.role = role
            self._record(
                tx.session,
                "user.role",
                target_type="user",
                target_id=user.id,
                username=current.username,
                role=role.value,
                previous=previous.value,
            )
        return self.get_user(user.id)

    def update_user(
        self, user: User, *, role: Role | None = None, disabled: bool | None = None
    ) -> User:
        """Change what is given and differs (role, disabled), each audited; the user as now."""
        if role is not None and role is not user.role:
            user = self.set_role(user, role)
        if disabled is not None and disabled != (not user.is_active):
            user = self.set_disabled(user, disabled)
        return user

    def reset_password(self, user: User) -> str:
        """Replace the password by a one-time password (returned once, never stored in clear)."""
        password = one_time_password()
        self._store_password(user, password, must_change=True, action="user.reset_password")
        return password

    def change_own_password(self, user: User, *, current: str, new: str) -> None:
        if not self._hasher.verify(user.password_hash, current):
            raise AuthenticationRequired(
                "the current password is wrong",
                code="invalid_credentials",
                field="current_password",
            )
        check_password_strength(new, field="new_password", username=user.username)
        if new == current:
            raise InvalidInput(
                "the new password must differ from the current one",
                code="password_unchanged",
                field="new_password",
            )
        self._store_password(user, new, must_change=False, action="user.change_password")

    def _store_password(self, user: User, password: str, *, must_change: bool, action: str) -> None:
        """Hash (slow: before the write transaction) and store a new password, audited."""
        password_hash = self._hasher.hash(password)
        with self._uow.write() as tx:
            row = self._writable_user(tx.session, user)
            row.password_hash = password_hash
            row.must_change_password = must_change
            self._record(
                tx.session, action, target_type="user", target_id=user.id, username=row.username
            )

    # teams ------------------------------------------------------------------------------

    def get_team(self, team_id: int) -> Team:
        """The team with its members loaded (rendering them costs no further queries)."""
        team = self._uow.read.scalar(
            select(Team)
            .where(Team.id == team_id)
            .options(selectinload(Team.members).selectinload(TeamMember.user))
            .execution_options(populate_existing=True)
        )
        if team is None:
            raise NotFound(f"no team with id {team_id}", code="team_not_found", field="team_id")
        return team

    def find_team(self, name: str, *, field: str = "team") -> Team:
        team = self._uow.read.scalar(select(Team).where(Team.name == name))
        if team is None:
            raise NotFound(f"no team named '{name}'", code="team_not_found", field=field)
        return team

    def list_teams(self) -> Sequence[Team]:
        return self._uow.read.scalars(
            select(Team)
            .options(selectinload(Team.members).selectinload(TeamMember.user))
            .order_by(Team.name)
        ).all()

    def create_team(self, name: str, *, description: str = "") -> Team:
        check_name(name, field="name", what="team name", example="web-team")
        require_text(description, field="description")
        with self._uow.write() as tx:
            if tx.session.scalar(select(func.count()).where(Team.name == name)):
                raise Conflict(
                    f"a team named '{name}' already exists", code="team_exists", field="name"
                )
            team = Team(name=name, description=description, created_at=self._clock.now())
            tx.session.add(team)
            tx.session.flush()
            self._record(
                tx.session, "team.create", target_type="team", target_id=team.id, name=name
            )
        return self.get_team(team.id)

    def add_member(self, team: Team, user: User) -> None:
        with self._uow.write() as tx:
            if tx.session.get(TeamMember, (team.id, user.id)) is not None:
                raise Conflict(
                    f"'{user.username}' is already a member of '{team.name}'",
                    code="already_member",
                    field="username",
                )
            tx.session.add(TeamMember(team_id=team.id, user_id=user.id, added_at=self._clock.now()))
            self._record(
                tx.session,
                "team.add_member",
                target_type="team",
                target_id=team.id,
                team=team.name,
                username=user.username,
            )

    def remove_member(self, team: Team, user: User) -> None:
        with self._uow.write() as tx:
            member = tx.session.get(TeamMember, (team.id, user.id))
            if member is None:
                raise NotFound(
                    f"'{user.username}' is not a member of '{team.name}'",
                    code="not_a_member",
                    field="username",
                )
            tx.session.delete(member)
            self._record(
                tx.session,
                "team.remove_member",
                target_type="team",
                target_id=team.id,
                team=team.name,
                username=user.username,
            )


def _user_exists(username: str) -> Conflict:
    return Conflict(
        f"a user named '{username}' already exists", code="user_exists", field="username"
    )
