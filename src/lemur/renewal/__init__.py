"""Automatic renewal: the policy (per authority, team, certificate), the hourly pass that
finds certificates inside their renewal window, and the job that renews one."""
