"""The ``acme`` issuer plugin (RFC 8555): see :mod:`lemur.builtin.acme.plugin`."""

from __future__ import annotations

from lemur.builtin.acme.options import ACMEOptions
from lemur.builtin.acme.plugin import ACMEIssuer

__all__ = ["ACMEIssuer", "ACMEOptions"]
