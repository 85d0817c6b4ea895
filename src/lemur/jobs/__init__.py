"""Jobs: everything that happens later than the request (notifying, renewing, deploying,
polling a CA), enqueued in the transaction of the change that causes it and run by the
embedded runner (default) or Celery workers. See docs/operations.md and
docs/decisions/0012-jobs-outbox.md."""
