"""The notifications' part of /metrics: messages sent and failed, by channel, read from the
messages table at scrape time (so every process, workers included, is counted)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from sqlalchemy.orm import Session

from lemur.notifications.service import notification_metrics


def notification_metric_source(session: Session, now: dt.datetime) -> Iterator[Metric]:
    del now  # counts, not ages
    sent = CounterMetricFamily(
        "lemur_notifications_sent",
        "Messages (digests) delivered, by channel, over every message still stored.",
        labels=["channel"],
    )
    failed = CounterMetricFamily(
        "lemur_notifications_failed",
        "Messages that failed for good (refused, or every attempt failed), by channel.",
        labels=["channel"],
    )
    for channel, (n_sent, n_failed) in sorted(notification_metrics(session).items()):
        sent.add_metric([channel], n_sent)
        failed.add_metric([channel], n_failed)
    yield sent
    yield failed
