"""A signed-in browser request (``Visit``): who, what they may do, and how a page answers.

Page handlers take a ``Visit`` (``SignedIn`` in lemur.ui.api) and, for posts, the checked
form (``Posted``). They call the same services as the API (``visit.services()``) and answer
with ``visit.render(template, ...)`` or ``visit.redirect(url, notice=...)``.
"""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from lemur.accounts import submissions
from lemur.accounts.login import csrf_token
from lemur.accounts.models import Team, User
from lemur.authz import Action, Principal, allowed
from lemur.container import Container
from lemur.services import Services
from lemur.ui.format import install_filters
from lemur.ui.forms import SUBMISSION_FIELD, Form, FormErrors

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
install_filters(templates.env)
templates.env.globals["new_submission_token"] = submissions.new_token
# A message for the next page the browser shows (after a redirect), then deleted.
FLASH_COOKIE = "lemur_flash"
FLASH_MAX_CHARS = 300


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    action: Action | None  # shown only to those allowed it; None: everyone


# The navigation bar, in order; an item is shown to those allowed its action.
NAV = (
    NavItem("Dashboard", "/", None),
    NavItem("Certificates", "/certificates", Action.CERTIFICATE_READ),
    NavItem("Request", "/certificates/new", Action.CERTIFICATE_ISSUE),
    NavItem("Pending", "/requests", Action.CERTIFICATE_READ),
    NavItem("Authorities", "/authorities", Action.AUTHORITY_READ),
    NavItem("Destinations", "/destinations", Action.DESTINATION_READ),
    NavItem("Teams", "/teams", Action.TEAM_READ),
    NavItem("Users", "/users", Action.USER_READ),
    NavItem("Notifications", "/notifications", Action.NOTIFICATION_READ),
    NavItem("Jobs", "/jobs", Action.JOB_READ),
    NavItem("Audit", "/audit", Action.AUDIT_READ),
)


def security_headers(response: HTMLResponse | RedirectResponse) -> None:
    """Pages show what only their user may see: never cached, never framed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"


def render(request: Request, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
    """A template as a page, for anyone (signed in or not)."""
    context.setdefault("messages", [])
    context.setdefault("user", None)
    context.setdefault("visit", None)
    context.setdefault("errors", FormErrors())
    context.setdefault("values", {})
    response = templates.TemplateResponse(request, name, context, status_code=status)
    security_headers(response)
    return response


def safe_next(target: str | None) -> str:
    """A local path to return to after login; anything else (another site, a scheme, a
    protocol-relative ``//host``, a backslash trick) is the dashboard."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(c in target for c in "\r\n\\") or len(target) > 500:
        return "/"
    return target


@dataclass
class Visit:
    request: Request
    container: Container
    principal: Principal
    user: User  # detached, with memberships and their teams loaded
    cookie: str
    _flash: list[str] = field(default_factory=list)

    @property
    def csrf(self) -> str:
        return csrf_token(self.container.session_secret, self.cookie)

    @property
    def now(self) -> dt.datetime:
        return self.container.clock.now()

    @property
    def teams(self) -> list[Team]:
        """The user's own teams, by name."""
        return sorted((m.team for m in self.user.memberships), key=lambda t: t.name)

    def may(self, action: Action, *, team_id: int | None = None) -> bool:
        """Whether to show a control: the service checks again when it is used."""
        return allowed(self.principal, action, team_id=team_id)

    def services(self) -> Services:
        """The services as this user (``with visit.services() as services: ...``)."""
        return Services(self.container, self.principal)

    def nav(self) -> list[tuple[NavItem, bool]]:
        """The navigation items this user may use, each with whether it is the current page."""
        path = self.request.url.path
        items = [i for i in NAV if i.action is None or self.may(i.action)]
        current = max(
            (i for i in items if path == i.href or (i.href != "/" and path.startswith(i.href))),
            key=lambda i: len(i.href),
            default=None,
        )
        return [(i, i is current) for i in items]

    def render(self, name: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        flashed = self.request.cookies.get(FLASH_COOKIE)
        messages = list(context.pop("messages", []))
        if flashed:
            messages.insert(0, urllib.parse.unquote(flashed)[:FLASH_MAX_CHARS])
        response = render(
            self.request,
            name,
            status=status,
            visit=self,
            user=self.user,
            csrf_token=self.csrf,
            messages=messages,
            **context,
        )
        if flashed:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response

    def redirect(self, url: str, *, notice: str | None = None) -> RedirectResponse:
        """303 to ``url`` (Post/Redirect/Get), with a message for the page it shows."""
        response = RedirectResponse(url, status_code=303)
        security_headers(response)
        if notice:
            response.set_cookie(
                FLASH_COOKIE,
                urllib.parse.quote(notice[:FLASH_MAX_CHARS]),
                max_age=60,
                httponly=True,
                samesite="lax",
                secure=self.container.settings.secure_cookies,
                path="/",
            )
        return response

    def once(
        self, form: Form, work: Callable[[], Response], *, then: str | None = None
    ) -> Response:
        """Run ``work`` for this form post unless the same form was posted before.

        The form's one-time token (``submission``, put in by the ``form`` macro) is claimed
        first. A repeat of a post that succeeded (answered with a redirect) goes where the
        first one led; a repeat while the first is still running is told so and does
        nothing. A post that did not succeed (the form shown again with its errors) frees
        the token, so the corrected form can be sent.

        ``then``: for a post answered with a page rather than a redirect (a secret shown
        once, from the post's own answer): when it succeeded (2xx), a repeat goes to
        ``then``, so reloading the answer neither does the work again nor shows the secret
        again."""
        token = form.get(SUBMISSION_FIELD)
        if not token or len(token) > 64:
            return work()
        db = self.container.db
        claimed = submissions.claim(db, token, user_id=self.principal.user_id or 0, now=self.now)
        if claimed.claim is submissions.Claim.DONE and claimed.location:
            return self.redirect(claimed.location)
        if claimed.claim is not submissions.Claim.FIRST:
            return self.render(
                "error.html",
                status=409,
                heading="This form was already sent",
                error="This form was sent twice; the first one is still being handled and "
                "the second did nothing. Wait a moment, then reload the page it came from.",
            )
        try:
            response = work()
        except BaseException:
            submissions.release(db, token)
            raise
        location = response.headers.get("location")
        if response.status_code == 303 and location:
            submissions.finish(db, token, location=location)
        elif then is not None and 200 <= response.status_code < 300:
            submissions.finish(db, token, location=then)
        else:
            submissions.release(db, token)
        return response
