"""A real moto server (AWS APIs over HTTP) in a subprocess, on a free loopback port.

No in-process mocks: boto3 talks HTTP to ``endpoint_url`` exactly as to AWS.
:meth:`MotoServer.reset` wipes all state (between tests); :meth:`ses_messages` lists what
SES "sent" (``GET /moto-api/data.json``). Use it through the ``moto_server`` fixture
(tests/peers/fixtures.py).
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import httpx

from tests.peers.server import free_port

REGION = "us-east-1"
# moto accepts any credentials; these match the access-key pattern of the ses options.
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def moto_command() -> list[str]:
    script = Path(sys.executable).parent / "moto_server"
    return [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]


@dataclass(frozen=True)
class SentEmail:
    """One SendRawEmail call as moto recorded it."""

    source: str
    destinations: tuple[str, ...]
    raw: str
    message: EmailMessage

    def part(self, content_type: str) -> str | None:
        for item in self.message.walk():
            if item.get_content_type() == content_type and not item.is_multipart():
                content: str = item.get_content()
                return content
        return None


class MotoServer:
    def __init__(self, process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
        self.process = process
        self.port = port
        self.log_path = log_path
        self.endpoint_url = f"http://127.0.0.1:{port}"

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY,
        )

    def reset(self) -> None:
        httpx.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()

    def verify_ses_identity(self, address: str) -> None:
        self.client("ses").verify_email_identity(EmailAddress=address)

    def ses_messages(self) -> list[SentEmail]:
        data = httpx.get(f"{self.endpoint_url}/moto-api/data.json", timeout=10).json()
        out = []
        for item in data.get("ses", {}).get("RawMessage", []):
            raw = item["raw_data"]
            parsed = email.message_from_string(raw, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            destinations = item.get("destinations") or []
            if isinstance(destinations, dict):
                destinations = destinations.get("ToAddresses", [])
            out.append(SentEmail(item["source"], tuple(destinations), raw, parsed))
        return out

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout)


def start_moto(directory: Path, *, timeout: float = 60) -> MotoServer:
    port = free_port()
    log_path = directory / "moto.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*moto_command(), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
        )
    server = MotoServer(process, port, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited: {log_path.read_text(errors='replace')}")
        try:
            if httpx.get(f"{server.endpoint_url}/moto-api/", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"moto_server did not answer within {timeout} s")
        time.sleep(0.1)
