"""Errors a plugin raises. Translate third-party errors at the plugin boundary with
``raise PluginTransientError(...) from exc``; messages must be safe to show the user."""

from __future__ import annotations

from lemur.errors import LemurError


class PluginError(LemurError):
    status = 502
    default_code = "plugin_error"


class PluginConfigurationError(PluginError):
    """The plugin's options or the remote account are wrong; retrying will not help."""

    status = 422
    default_code = "plugin_configuration_error"


class PluginTransientError(PluginError):
    """A temporary failure (timeout, 5xx, rate limit); the caller retries with backoff."""

    status = 503
    default_code = "plugin_unavailable"


class PluginRejected(PluginError):
    """The remote system refused this particular request (policy, name not allowed, ...)."""

    status = 422
    default_code = "plugin_rejected"
