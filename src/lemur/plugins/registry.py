"""The plugin registry: every installed plugin, found through entry points.

One entry-point group per kind (``lemur.issuers``, ``lemur.destinations``,
``lemur.sources``, ``lemur.notifiers``, ``lemur.exporters``); the entry-point name is the
plugin's slug. A third-party package registers a plugin in its ``pyproject.toml``::

    [project.entry-points."lemur.issuers"]
    my-ca = "my_package.issuer:MyCAIssuer"

:meth:`Registry.load` never lets one bad plugin stop Lemur from starting: a plugin that
fails to import, is not a subclass of its kind's base class, is abstract, or whose ``slug``
differs from its entry-point name is skipped and recorded as a :class:`LoadError`, which
``GET /api/v1/plugins`` shows to administrators.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload

from pydantic import BaseModel

from lemur.errors import InvalidInput, NotFound
from lemur.plugins.base import (
    ENTRY_POINT_GROUPS,
    KINDS,
    AuthorityCreator,
    Connector,
    CRLPublisher,
    Destination,
    Exporter,
    Issuer,
    ListenerRotator,
    Notifier,
    Plugin,
    Poller,
    RenewalAdvisor,
    Revoker,
    Source,
    Verifier,
)
from lemur.plugins.options import options_schema, validate_options
from lemur.plugins.values import PluginContext

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_MAX_MESSAGE = 500

Kind = Literal["issuer", "destination", "source", "notifier", "exporter"]
AnyPlugin = type[Plugin[Any]]

# Optional capabilities, by the interface that provides them (see lemur.plugins.base).
_CAPABILITIES: tuple[tuple[type[object], tuple[str, ...]], ...] = (
    (Revoker, ("revoke",)),
    (CRLPublisher, ("publish_crl",)),
    (AuthorityCreator, ("create_authority",)),
    (Poller, ("poll", "cancel")),
    (Connector, ("connect",)),
    (RenewalAdvisor, ("renewal_window",)),
    (Verifier, ("verify",)),
    (ListenerRotator, ("attach_listener",)),
)


@dataclass(frozen=True)
class LoadError:
    """A plugin that was skipped at start-up, and why (safe to show administrators)."""

    kind: str
    slug: str
    message: str
    target: str | None = None  # "module:attribute" from the entry point


@dataclass(frozen=True)
class PluginDescription:
    kind: str
    slug: str
    title: str
    description: str
    options_schema: dict[str, object]
    capabilities: tuple[str, ...]
    includes_private_key: bool | None = None  # exporters only
    needs_passphrase: bool | None = None  # exporters only
    distribution: str | None = None  # "name version" of the installed package, if known


def capabilities_of(cls: type[object]) -> tuple[str, ...]:
    """The optional capabilities a plugin class implements, e.g. ``("revoke",)``."""
    return tuple(name for iface, names in _CAPABILITIES if issubclass(cls, iface) for name in names)


def check_plugin_class(kind: str, slug: str, obj: object) -> AnyPlugin:
    """Return ``obj`` as a plugin class of ``kind`` registered as ``slug``.

    Raises ValueError saying what is wrong (not a class, wrong base class, abstract, slug or
    title missing or different, options model that cannot render its JSON Schema)."""
    base = KINDS[kind]
    if not inspect.isclass(obj):
        raise ValueError(f"{obj!r} is not a class")
    if not issubclass(obj, base):
        raise ValueError(
            f"{obj.__qualname__} is not a subclass of {base.__module__}.{base.__qualname__}"
        )
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
        raise ValueError(f"{obj.__qualname__} is abstract (does not implement {missing})")
    declared = getattr(obj, "slug", None)
    if declared != slug:
        raise ValueError(
            f"{obj.__qualname__}.slug is {declared!r} but the entry point is named {slug!r}; "
            "they must be equal"
        )
    if not SLUG_PATTERN.match(slug):
        raise ValueError(f"slug {slug!r} is not kebab-case (lowercase letters, digits, hyphens)")
    title = getattr(obj, "title", None)
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"{obj.__qualname__} has no title")
    options = getattr(obj, "Options", None)
    if not (inspect.isclass(options) and issubclass(options, BaseModel)):
        raise ValueError(f"{obj.__qualname__}.Options is not a pydantic model")
    try:
        json.dumps(options_schema(options))
    except Exception as exc:  # any failure here means the UI could not render the form
        raise ValueError(f"{obj.__qualname__}.Options has no JSON Schema: {exc}") from exc
    return obj


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE] + "…"


class Registry:
    """The installed plugins by kind and slug, plus what failed to load. Immutable."""

    def __init__(
        self,
        plugins: Mapping[str, Mapping[str, AnyPlugin]],
        errors: Iterable[LoadError] = (),
        *,
        distributions: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        self._plugins = {kind: dict(plugins.get(kind, {})) for kind in KINDS}
        self._errors = tuple(errors)
        self._distributions = dict(distributions or {})

    @classmethod
    def load(cls, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> Registry:
        """Load the plugins of every ``lemur.*`` entry-point group (or of ``entry_points``,
        for tests). Never raises for a bad plugin: it is skipped and recorded in ``errors``."""
        kind_of_group = {group: kind for kind, group in ENTRY_POINT_GROUPS.items()}
        if entry_points is None:
            found: list[importlib.metadata.EntryPoint] = []
            for group in ENTRY_POINT_GROUPS.values():
                found.extend(importlib.metadata.entry_points(group=group))
        else:
            found = [ep for ep in entry_points if ep.group in kind_of_group]

        by_slug: dict[tuple[str, str], list[importlib.metadata.EntryPoint]] = {}
        for ep in found:
            targets = by_slug.setdefault((kind_of_group[ep.group], ep.name), [])
            if all(t.value != ep.value for t in targets):
                targets.append(ep)

        plugins: dict[str, dict[str, AnyPlugin]] = {kind: {} for kind in KINDS}
        errors: list[LoadError] = []
        distributions: dict[tuple[str, str], str] = {}
        for (kind, slug), targets in sorted(by_slug.items()):
            if len(targets) > 1:
                # Which one wins would depend on install order; refuse both so the
                # administrator decides (uninstall one of the packages).
                names = " and ".join(t.value for t in targets)
                errors.append(
                    LoadError(
                        kind,
                        slug,
                        f"the slug {slug!r} is registered twice ({names}); neither was loaded",
                    )
                )
                continue
            ep = targets[0]
            try:
                plugin = check_plugin_class(kind, slug, ep.load())
            except Exception as exc:  # a broken plugin must not stop start-up
                detail = str(exc) or type(exc).__name__
                if not isinstance(exc, ValueError):
                    detail = f"{type(exc).__name__}: {detail}"
                errors.append(
                    LoadError(kind, slug, _short(f"could not load {ep.value}: {detail}"), ep.value)
                )
                continue
            plugins[kind][slug] = plugin
            dist = getattr(ep, "dist", None)
            if dist is not None:
                distributions[(kind, slug)] = f"{dist.name} {dist.version}"
        return cls(plugins, errors, distributions=distributions)

    @classmethod
    def from_classes(cls, classes: Iterable[type[object]]) -> Registry:
        """A registry of the given classes (for tests). Raises ValueError on an invalid class
        or a slug given twice for one kind."""
        plugins: dict[str, dict[str, AnyPlugin]] = {kind: {} for kind in KINDS}
        for obj in classes:
            kind = getattr(obj, "kind", None)
            if kind not in KINDS:
                raise ValueError(f"{obj!r} has no known plugin kind")
            slug = str(getattr(obj, "slug", ""))
            plugin = check_plugin_class(kind, slug, obj)
            if slug in plugins[kind]:
                raise ValueError(f"two {kind} plugins have the slug {slug!r}")
            plugins[kind][slug] = plugin
        return cls(plugins)

    @property
    def errors(self) -> tuple[LoadError, ...]:
        return self._errors

    def _kind(self, kind: str) -> dict[str, AnyPlugin]:
        try:
            return self._plugins[kind]
        except KeyError:
            raise NotFound(
                f"there is no plugin kind {kind!r}; kinds are {', '.join(KINDS)}",
                code="plugin_kind_not_found",
                field="kind",
            ) from None

    def slugs(self, kind: str) -> list[str]:
        return sorted(self._kind(kind))

    @overload
    def get(self, kind: Literal["issuer"], slug: str) -> type[Issuer[Any]]: ...
    @overload
    def get(self, kind: Literal["exporter"], slug: str) -> type[Exporter[Any]]: ...
    @overload
    def get(self, kind: Literal["destination"], slug: str) -> type[Destination[Any]]: ...
    @overload
    def get(self, kind: Literal["source"], slug: str) -> type[Source[Any]]: ...
    @overload
    def get(self, kind: Literal["notifier"], slug: str) -> type[Notifier[Any]]: ...
    @overload
    def get(self, kind: str, slug: str) -> AnyPlugin: ...
    def get(self, kind: str, slug: str) -> AnyPlugin:
        """The plugin class. Raises NotFound(plugin_not_found) listing the installed slugs."""
        plugins = self._kind(kind)
        try:
            return plugins[slug]
        except KeyError:
            installed = ", ".join(sorted(plugins)) or "none"
            raise NotFound(
                f"no {kind} plugin {slug[:64]!r} is installed; installed: {installed}",
                code="plugin_not_found",
                field="plugin",
            ) from None

    def chosen(self, kind: str, slug: str) -> Any:
        """The plugin class a request names in its ``plugin`` field: like :meth:`get`, but
        an unknown slug is the request's fault, InvalidInput(unknown_plugin)."""
        try:
            return self.get(kind, slug)
        except NotFound as exc:
            raise InvalidInput(exc.message, code="unknown_plugin", field="plugin") from None

    def describe(self, kind: str | None = None) -> list[PluginDescription]:
        """Every installed plugin (or those of ``kind``), sorted by kind then slug."""
        kinds = list(KINDS) if kind is None else [kind]
        out: list[PluginDescription] = []
        for k in kinds:
            for slug, cls in sorted(self._kind(k).items()):
                exporter = cls if issubclass(cls, Exporter) else None
                out.append(
                    PluginDescription(
                        kind=k,
                        slug=slug,
                        title=cls.title,
                        description=inspect.cleandoc(cls.description or ""),
                        options_schema=options_schema(cls.Options),
                        capabilities=capabilities_of(cls),
                        includes_private_key=None
                        if exporter is None
                        else exporter.includes_private_key,
                        needs_passphrase=None if exporter is None else exporter.needs_passphrase,
                        distribution=self._distributions.get((k, slug)),
                    )
                )
        return out

    @overload
    def instantiate(
        self, kind: Literal["issuer"], slug: str, options: object, context: PluginContext
    ) -> Issuer[Any]: ...
    @overload
    def instantiate(
        self, kind: Literal["exporter"], slug: str, options: object, context: PluginContext
    ) -> Exporter[Any]: ...
    @overload
    def instantiate(
        self, kind: Literal["destination"], slug: str, options: object, context: PluginContext
    ) -> Destination[Any]: ...
    @overload
    def instantiate(
        self, kind: Literal["source"], slug: str, options: object, context: PluginContext
    ) -> Source[Any]: ...
    @overload
    def instantiate(
        self, kind: Literal["notifier"], slug: str, options: object, context: PluginContext
    ) -> Notifier[Any]: ...
    @overload
    def instantiate(
        self, kind: str, slug: str, options: object, context: PluginContext
    ) -> Plugin[Any]: ...
    def instantiate(
        self, kind: str, slug: str, options: object, context: PluginContext
    ) -> Plugin[Any]:
        """Validate ``options`` (user input: a dict, or an already-validated ``Options``
        instance, e.g. from :func:`lemur.plugins.options.load_options`) and construct the
        plugin.

        Raises NotFound(plugin_not_found), InvalidInput(invalid_plugin_options) with the
        field as ``options.<path>``, or whatever the plugin's constructor raises (usually
        PluginConfigurationError)."""
        cls = self.get(kind, slug)
        if isinstance(options, BaseModel):
            if not isinstance(options, cls.Options):
                raise InvalidInput(
                    f"options for {kind} {slug!r} must be a {cls.Options.__name__}",
                    code="invalid_plugin_options",
                    field="options",
                )
            validated = options
        else:
            validated = validate_options(cls.Options, options)
        return cls(validated, context)
