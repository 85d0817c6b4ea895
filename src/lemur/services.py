"""The one factory of services: API handlers, CLI commands, the first-start bootstrap and
(later) jobs build their services here, for one actor and one unit of work.

A factory is cheap (a few objects); build one per request or command. Given the request's
read session it shares it (authentication already opened it); otherwise the unit of work
opens one on first use, and :meth:`Services.close` (or ``with``) closes it.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.orm import Session

from lemur.accounts.login import LoginService, ThrottlePolicy
from lemur.accounts.service import AccountService
from lemur.accounts.tokens import TokenService
from lemur.authorities.connections import ConnectedAuthorityService
from lemur.authorities.signing import AuthorityGateway
from lemur.authorities.urls import AuthorityURLs
from lemur.authz import Principal
from lemur.certificates.editing import EditService
from lemur.certificates.export import ExportService
from lemur.certificates.imports import ImportService
from lemur.certificates.issuance import IssuanceService
from lemur.certificates.name_check import NameCheckService
from lemur.certificates.pending import PendingService
from lemur.certificates.revocation import RevocationService
from lemur.certificates.service import CertificateService
from lemur.certificates.store import CertificateStore
from lemur.clock import Clock
from lemur.db import UnitOfWork
from lemur.deployments.destinations import DestinationService
from lemur.deployments.service import DeploymentService
from lemur.jobs.schedule import build_schedule
from lemur.jobs.service import JobService
from lemur.notifications.mutes import MuteTable
from lemur.notifications.service import NotificationService
from lemur.orders.responder import DatabaseChallenges
from lemur.orders.service import RequestService
from lemur.renewal.service import RenewalService
from lemur.statistics.service import StatisticsService

if TYPE_CHECKING:
    from lemur.container import Container

_S = TypeVar("_S", bound=CertificateService)


class Services:
    def __init__(
        self, container: Container, actor: Principal, *, read: Session | None = None
    ) -> None:
        self._container = container
        self.actor = actor
        self.uow = UnitOfWork(container.db, read=read)
        self.urls = AuthorityURLs(container.settings.effective_base_url)
        self.store = CertificateStore(container.keyring)
        self.authority_gateway = AuthorityGateway(
            inventory=self.store,
            signing_keys=container.signing_keys,
            urls=self.urls,
            plugins=container.plugins,
            keyring=container.keyring,
            clock=container.clock,
            outbound=container.outbound_policy,
            challenges=DatabaseChallenges(container.db, container.clock),
        )

    @property
    def clock(self) -> Clock:
        return self._container.clock

    def _certificate_service(self, cls: type[_S]) -> _S:
        return cls(
            self.uow,
            store=self.store,
            authorities=self.authority_gateway,
            plugins=self._container.plugins,
            mutes=MuteTable(),
            clock=self._container.clock,
            actor=self.actor,
        )

    def certificates(self) -> CertificateService:
        return self._certificate_service(CertificateService)

    def issuance(self) -> IssuanceService:
        return self._certificate_service(IssuanceService)

    def imports(self) -> ImportService:
        return self._certificate_service(ImportService)

    def exports(self) -> ExportService:
        return self._certificate_service(ExportService)

    def revocation(self) -> RevocationService:
        return self._certificate_service(RevocationService)

    def editing(self) -> EditService:
        return self._certificate_service(EditService)

    def pending(self) -> PendingService:
        """Polling and cancelling requests at CAs that answer later."""
        return self._certificate_service(PendingService)

    def requests(self) -> RequestService:
        return RequestService(self.uow, actor=self.actor)

    def destinations(self) -> DestinationService:
        return DestinationService(self.uow, container=self._container, actor=self.actor)

    def deployments(self) -> DeploymentService:
        return DeploymentService(
            self.uow,
            certificates=self.certificates(),
            clock=self._container.clock,
            actor=self.actor,
        )

    def renewal(self) -> RenewalService:
        return self._certificate_service(RenewalService)

    def name_check(self) -> NameCheckService:
        return NameCheckService(
            self.uow,
            authorities=self.authority_gateway,
            clock=self._container.clock,
            actor=self.actor,
            default_authority_name=self._container.settings.default_authority,
        )

    def authorities(self) -> ConnectedAuthorityService:
        return ConnectedAuthorityService(
            self.uow,
            gateway=self.authority_gateway,
            inventory=self.store,
            clock=self._container.clock,
            actor=self.actor,
        )

    def accounts(self) -> AccountService:
        return AccountService(
            self.uow,
            clock=self._container.clock,
            hasher=self._container.hasher,
            actor=self.actor,
        )

    def tokens(self) -> TokenService:
        return TokenService(
            self.uow,
            clock=self._container.clock,
            max_lifetime_days=self._container.settings.token_max_lifetime_days,
        )

    def login(self) -> LoginService:
        settings = self._container.settings
        return LoginService(
            self.uow,
            clock=self._container.clock,
            hasher=self._container.hasher,
            policy=ThrottlePolicy(
                settings.login_max_failures_per_account,
                settings.login_max_failures_per_address,
                dt.timedelta(seconds=settings.login_failure_window_seconds),
            ),
            session_lifetime=dt.timedelta(minutes=settings.session_lifetime_minutes),
            device_secret=self._container.session_secret,
        )

    def jobs(self) -> JobService:
        return JobService(
            self.uow,
            clock=self._container.clock,
            actor=self.actor,
            kinds=self._container.job_kinds,
            schedule=build_schedule(self._container.settings.schedule),
        )

    def notifications(self) -> NotificationService:
        return NotificationService(self.uow, container=self._container, actor=self.actor)

    def statistics(self) -> StatisticsService:
        return StatisticsService(self.uow, cache=self._container.statistics_cache, actor=self.actor)

    def close(self) -> None:
        self.uow.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
