"""The start page (until the dashboard replaces it): who you are and your teams."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.ui.api import SignedIn

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(visit: SignedIn) -> Response:
    return visit.render("home.html", teams=visit.teams)
