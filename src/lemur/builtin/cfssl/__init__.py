"""The ``cfssl`` issuer: certificates from CloudFlare's CFSSL (see :mod:`.issuer`)."""

from __future__ import annotations

from lemur.builtin.cfssl.issuer import CFSSLIssuer
from lemur.builtin.cfssl.options import CFSSLOptions

__all__ = ["CFSSLIssuer", "CFSSLOptions"]
