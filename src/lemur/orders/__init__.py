"""Requests waiting at a CA that answers later (ACME orders, AWS Private CA issuance): kept in
the database, polled by a job until the certificate is ready, the order fails, or someone
cancels it; and Lemur's own answers to ACME HTTP-01 challenges."""
