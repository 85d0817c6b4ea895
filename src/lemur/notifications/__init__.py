"""Notifications: channels, rules, the ledger that sends each notice once, digests, mutes
(docs/notifications.md)."""
