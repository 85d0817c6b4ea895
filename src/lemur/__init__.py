"""Lemur: certificate orchestration."""

__version__ = "0.1.0"
