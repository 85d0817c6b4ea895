"""Sending: a channel's notifier plugin built from its stored options, and one message sent.

The plugin is built per send from the channel row (options decrypted with the key ring
only here, never logged) inside :func:`lemur.outbound.plugin_context`, so its HTTP client
and sockets follow the outbound address policy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lemur.clock import SystemClock
from lemur.crypto.keyring import KeyRing
from lemur.notifications.models import Channel
from lemur.plugins.base import Notifier
from lemur.plugins.options import load_options
from lemur.plugins.registry import Registry

if TYPE_CHECKING:
    from lemur.container import Container
    from lemur.plugins.values import Notice


def stored_options(registry: Registry, keyring: KeyRing, channel: Channel) -> Any:
    """The channel's options model, secrets decrypted. Raises NotFound(plugin_not_found)
    when the plugin is no longer installed, PluginConfigurationError when the stored
    options no longer fit it."""
    cls = registry.get("notifier", channel.plugin)
    return load_options(cls.Options, json.loads(channel.options), keyring.decrypt)


@contextmanager
def notifier(container: Container, plugin: str, options: Any) -> Iterator[Notifier[Any]]:
    """The plugin ``plugin`` with ``options`` (a validated Options instance), in a context
    whose network access goes through the guarded outbound client."""
    from lemur.outbound import OutboundPolicy, plugin_context

    policy = OutboundPolicy.from_settings(container.settings)
    # Wall-clock time, whatever clock the installation runs on: a webhook's signature
    # timestamp is checked by the receiver against its own clock.
    with plugin_context(policy, SystemClock(), f"lemur.notifiers.{plugin}") as context:
        yield container.plugins.instantiate("notifier", plugin, options, context)


def notice(
    *,
    event: str,
    subject: str,
    text: str,
    html: str | None,
    message_id: str,
    link: str | None,
    certificate_ids: Sequence[int],
) -> Notice:
    from lemur.plugins.values import Notice

    return Notice(
        event=event,
        subject=subject,
        body=text,
        certificate_ids=tuple(certificate_ids),
        message_id=message_id,
        html=html,
        link=link,
    )
