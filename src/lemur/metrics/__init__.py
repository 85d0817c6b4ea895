"""Prometheus metrics: domain metrics read from the database at scrape time (collector),
HTTP request metrics and the request's log context (http), and GET /metrics (api)."""
