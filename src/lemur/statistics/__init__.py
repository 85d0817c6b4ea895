"""Figures about the certificate inventory for the dashboard (``GET /api/v1/statistics``)."""
