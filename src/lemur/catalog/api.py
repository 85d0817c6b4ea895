"""/api/v1/plugins: the installed plugins with their option schemas, and load errors."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query, Request

from lemur.authz import Action, Principal
from lemur.catalog.schemas import LoadErrorOut, PluginCatalogOut, PluginOut
from lemur.errors import ConfigurationError
from lemur.plugins.registry import Registry
from lemur.web.api import require

router = APIRouter(prefix="/api/v1/plugins", tags=["plugins"])


def get_registry(request: Request) -> Registry:
    """The registry loaded at start-up: ``app.state.plugins``, else ``container.plugins``."""
    registry: object = getattr(request.app.state, "plugins", None)
    if registry is None:
        registry = getattr(getattr(request.app.state, "container", None), "plugins", None)
    if not isinstance(registry, Registry):
        raise ConfigurationError("the plugin registry is not configured", code="plugins_not_loaded")
    return registry


@router.get("", response_model=PluginCatalogOut)
def list_plugins(
    kind: Literal["issuer", "destination", "source", "notifier", "exporter"] | None = Query(
        None, description="only plugins of this kind"
    ),
    _principal: Principal = Depends(require(Action.SELF_READ)),
    registry: Registry = Depends(get_registry),
) -> PluginCatalogOut:
    return PluginCatalogOut(
        plugins=[PluginOut.of(d) for d in registry.describe(kind)],
        errors=[LoadErrorOut.of(e) for e in registry.errors if kind is None or e.kind == kind],
    )
