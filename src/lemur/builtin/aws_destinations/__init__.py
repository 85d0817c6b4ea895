"""``aws-iam`` and ``aws-acm``: destinations in an AWS account (IAM server certificates,
ACM certificates), with listener rotation on classic and ELBv2 load balancers."""

from lemur.builtin.aws_destinations.acm import ACMDestination
from lemur.builtin.aws_destinations.iam import IAMDestination
from lemur.builtin.aws_destinations.options import ACMOptions, AWSAccountOptions, IAMOptions

__all__ = ["ACMDestination", "ACMOptions", "AWSAccountOptions", "IAMDestination", "IAMOptions"]
