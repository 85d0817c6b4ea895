from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from lemur.plugins.registry import LoadError, PluginDescription


class PluginOut(BaseModel):
    kind: str = Field(description="issuer, destination, source, notifier or exporter")
    slug: str = Field(description="the plugin's name in API requests, e.g. local-ca")
    title: str
    description: str
    options_schema: dict[str, Any] = Field(
        description="JSON Schema of the plugin's options; secret fields are writeOnly"
    )
    capabilities: list[str] = Field(
        description="optional abilities: revoke, create_authority, poll, cancel, connect, "
        "renewal_window, publish_crl, verify"
    )
    includes_private_key: bool | None = Field(
        None, description="exporters: the export contains the private key"
    )
    needs_passphrase: bool | None = Field(None, description="exporters: a passphrase is required")
    distribution: str | None = Field(None, description="installed package and version")

    @classmethod
    def of(cls, d: PluginDescription) -> PluginOut:
        return cls(
            kind=d.kind,
            slug=d.slug,
            title=d.title,
            description=d.description,
            options_schema=d.options_schema,
            capabilities=list(d.capabilities),
            includes_private_key=d.includes_private_key,
            needs_passphrase=d.needs_passphrase,
            distribution=d.distribution,
        )


class LoadErrorOut(BaseModel):
    kind: str
    slug: str
    message: str

    @classmethod
    def of(cls, e: LoadError) -> LoadErrorOut:
        return cls(kind=e.kind, slug=e.slug, message=e.message)


class PluginCatalogOut(BaseModel):
    plugins: list[PluginOut]
    errors: list[LoadErrorOut] = Field(description="plugins that were skipped at start-up, and why")
