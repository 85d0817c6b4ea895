"""``aws-pca``: certificates from AWS Private CA (issuer.py), with its options (options.py)."""

from lemur.builtin.aws_pca.issuer import AWSPCAIssuer, idempotency_token, serial_hex
from lemur.builtin.aws_pca.options import AWSPCAOptions

__all__ = ["AWSPCAIssuer", "AWSPCAOptions", "idempotency_token", "serial_hex"]
