"""The renewal window: when a certificate counts as "expiring" and is due for renewal.

One rule for the status shown in lists and details, the ``status=expiring`` search filter
and (later) automatic renewal: the last third of the certificate's lifetime, at most
``MAX_RENEWAL_WINDOW``. A 30-day certificate is due 10 days before it expires, a 90-day one
30 days before; a certificate is never "expiring" the moment it is issued.
"""

from __future__ import annotations

import datetime as dt

MAX_RENEWAL_WINDOW = dt.timedelta(days=30)


def renewal_window(not_before: dt.datetime, not_after: dt.datetime) -> dt.timedelta:
    """The length of the renewal window of a certificate valid from ``not_before`` to
    ``not_after``: a third of its lifetime, at most MAX_RENEWAL_WINDOW (zero if the
    dates are reversed)."""
    lifetime = max(not_after - not_before, dt.timedelta(0))
    return min(lifetime / 3, MAX_RENEWAL_WINDOW)


def renew_after(not_before: dt.datetime, not_after: dt.datetime) -> dt.datetime:
    """The moment a certificate enters its renewal window (stored as
    ``certificates.renew_after``, so that searching for expiring certificates is an index
    range and not a computation per row)."""
    return not_after - renewal_window(not_before, not_after)
