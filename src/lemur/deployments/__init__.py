"""Destinations (where certificates are served from), endpoints (where a TLS client meets
them), and deployments (one certificate placed at one destination, verified, rolled back
when it does not work). See docs/destinations.md."""
