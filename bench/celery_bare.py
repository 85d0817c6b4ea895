"""The baseline of the Celery benchmark: a bare Celery task on the same Redis, without
Lemur (no database, no container): what one message costs the broker and Celery alone.

Same settings as lemur/jobs/celery_app.py (json, late acks, prefetch 4, no results). The
task counts itself in Redis so that the benchmark knows when all have run.
"""

from __future__ import annotations

import os

import redis
from celery import Celery

BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0")
QUEUE = os.environ.get("BENCH_QUEUE", "bench-bare")
COUNTER = f"{QUEUE}:done"

app = Celery("bench_bare", broker=BROKER, set_as_current=False)
app.conf.update(
    task_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=4,
    broker_connection_retry_on_startup=True,
    task_default_queue=QUEUE,
    worker_enable_remote_control=False,
    worker_send_task_events=False,
)
_client: redis.Redis | None = None


@app.task(name="bench.noop", ignore_result=True)  # type: ignore[untyped-decorator]
def noop(n: int) -> None:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(BROKER)
    _client.incr(COUNTER)
