"""aws-pca issuance against a local moto server, next to a baseline measured in the same run.

Baseline: the same two calls made with a bare boto3 client created once (IssueCertificate +
GetCertificate). The plugin adds what it does per operation: the outbound check of the
endpoint, a fresh boto3 session and client (plugins keep no state), the idempotency token,
PEM parsing; with ``role_arn`` also one sts:AssumeRole; with no ``signing_algorithm`` one
DescribeCertificateAuthority. moto signs with a 2048-bit RSA key in the server process.

    .venv/bin/python -m bench.aws_pca_issuance [--seconds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from tests.issuers.aws_pca.conftest import ROLE_ARN, create_private_ca, csr_request
from tests.peers.moto import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, start_moto

from lemur.builtin.aws_pca import AWSPCAIssuer, AWSPCAOptions
from lemur.clock import SystemClock
from lemur.outbound import OutboundPolicy, plugin_context


def measure(name: str, call: Callable[[], object], seconds: float) -> tuple[str, list[float]]:
    call()  # warm up (imports, connection pool, moto's first request)
    times: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return name, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="per variant")
    args = parser.parse_args()
    moto = start_moto(Path(tempfile.mkdtemp(prefix="bench-moto-")))
    try:
        pca = moto.client("acm-pca")
        ca = create_private_ca(pca)
        request = csr_request()
        assert request.csr is not None
        csr_pem = request.csr.public_bytes(serialization.Encoding.PEM)

        def bare() -> object:
            arn = pca.issue_certificate(
                CertificateAuthorityArn=ca.arn,
                Csr=csr_pem,
                SigningAlgorithm="SHA256WITHRSA",
                Validity={"Value": 30, "Type": "DAYS"},
            )["CertificateArn"]
            return pca.get_certificate(CertificateAuthorityArn=ca.arn, CertificateArn=arn)

        base = {
            "region": REGION,
            "certificate_authority_arn": ca.arn,
            "endpoint_url": moto.endpoint_url,
            "access_key_id": ACCESS_KEY_ID,
            "secret_access_key": SECRET_ACCESS_KEY,
        }
        variants = {
            "plugin, signing_algorithm set": {**base, "signing_algorithm": "SHA256WITHRSA"},
            "plugin, algorithm from the CA": base,
            "plugin, role assumed": {
                **base,
                "signing_algorithm": "SHA256WITHRSA",
                "role_arn": ROLE_ARN.replace("111111111111", "123456789012"),
                "sts_endpoint_url": moto.endpoint_url,
            },
        }
        with plugin_context(OutboundPolicy(timeout=5), SystemClock(), "bench.aws_pca") as ctx:
            results = [measure("baseline: bare boto3 issue + get", bare, args.seconds)]
            for name, options in variants.items():
                issuer = AWSPCAIssuer(AWSPCAOptions.model_validate(options), ctx)
                results.append(measure(name, lambda i=issuer: i.issue(request), args.seconds))
    finally:
        moto.stop()
    baseline = statistics.median(results[0][1])
    print(f"{'variant':36} {'n':>5} {'median ms':>10} {'p95 ms':>8} {'x baseline':>10}")
    for name, times in results:
        median = statistics.median(times)
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else median
        print(
            f"{name:36} {len(times):5d} {median * 1000:10.1f} {p95 * 1000:8.1f} "
            f"{median / baseline:10.2f}"
        )


if __name__ == "__main__":
    main()
