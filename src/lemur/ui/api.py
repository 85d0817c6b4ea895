"""The web UI's dependencies and its router, made of one router per page module.

A page handler declares what it needs with these annotated types (FastAPI's ``Depends``
stays in this file, docs/ui.md "Adding pages"):

- ``SignedIn``: the signed-in user's ``Visit``; no session sends the browser to the login
  page and back, a one-time password still in use to /password.
- ``Posted``: the posted form, its CSRF token checked (a 403 page otherwise); files included.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.datastructures import UploadFile

from lemur.accounts.login import authenticate_session, csrf_valid
from lemur.container import Container
from lemur.logs import set_principal
from lemur.ui.errors import CSRFFailed, LoginRequired, PasswordChangeRequired
from lemur.ui.forms import CSRF_FIELD, Form
from lemur.ui.visit import Visit
from lemur.web.api import SESSION_COOKIE, client_address

# Pages open to a user whose one-time password is still unchanged.
PASSWORD_PAGES = frozenset({"/password", "/logout"})
# An uploaded file larger than this is refused by the body size limit before it gets here;
# this bounds what one field may hold in memory (a PEM bundle, a PKCS#12 file).
MAX_FILE_BYTES = 512 * 1024


def find_visit(request: Request) -> Visit | None:
    container: Container = request.app.state.container
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with container.db.read() as session:
        found = authenticate_session(
            session, cookie, clock=container.clock, client_address=client_address(request)
        )
        if found is None:
            return None
        principal, user = found
        _ = [m.team.name for m in user.memberships]  # loaded for the pages
    set_principal(principal.actor_name)
    return Visit(request, container, principal, user, cookie)


async def maybe_signed_in(request: Request) -> Visit | None:
    """The visit, or None (the login page itself)."""
    return find_visit(request)


async def signed_in(request: Request) -> Visit:
    visit = find_visit(request)
    if visit is None:
        raise LoginRequired()
    if visit.user.must_change_password and request.url.path not in PASSWORD_PAGES:
        raise PasswordChangeRequired()
    return visit


async def posted(request: Request, visit: Visit = Depends(signed_in)) -> Form:
    raw = await request.form(max_part_size=MAX_FILE_BYTES)
    fields: dict[str, list[str]] = {}
    files: dict[str, bytes] = {}
    for name, value in raw.multi_items():
        if isinstance(value, UploadFile):
            data = await value.read(MAX_FILE_BYTES + 1)
            if data:
                files[name] = data[:MAX_FILE_BYTES]
        else:
            fields.setdefault(name, []).append(value)
    form = Form(fields, files)
    if not csrf_valid(visit.container.session_secret, visit.cookie, form.get(CSRF_FIELD)):
        raise CSRFFailed()
    return form


SignedIn = Annotated[Visit, Depends(signed_in)]
MaybeSignedIn = Annotated[Visit | None, Depends(maybe_signed_in)]
Posted = Annotated[Form, Depends(posted)]


def page_router() -> APIRouter:
    """The routers of every module of lemur.ui.routes, in one: a new page module is picked
    up by being there (imported here, so that page modules can import this one)."""
    from lemur.ui import routes

    router = APIRouter(include_in_schema=False)
    for info in sorted(pkgutil.iter_modules(routes.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{routes.__name__}.{info.name}")
        router.include_router(module.router)
    return router
