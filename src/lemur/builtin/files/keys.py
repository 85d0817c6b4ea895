"""SSH keys for the ``sftp`` destination: the pinned host key as a comparable value with
its SHA-256 fingerprint, and the client's private key loaded without echoing it."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
from dataclasses import dataclass
from typing import Any

import paramiko  # type: ignore[import-untyped]

from lemur.plugins.errors import PluginConfigurationError

# A pinned key's type -> the host key algorithms to offer, so the server presents that key.
HOST_KEY_ALGORITHMS = {
    "ssh-ed25519": ["ssh-ed25519"],
    "ecdsa-sha2-nistp256": ["ecdsa-sha2-nistp256"],
    "ecdsa-sha2-nistp384": ["ecdsa-sha2-nistp384"],
    "ecdsa-sha2-nistp521": ["ecdsa-sha2-nistp521"],
    "ssh-rsa": ["rsa-sha2-512", "rsa-sha2-256"],
}
_KEY_CLASSES = ("Ed25519Key", "ECDSAKey", "RSAKey")


@dataclass(frozen=True)
class PublicKey:
    """An SSH public key: its type and wire-format blob (RFC 4253 §6.6)."""

    kind: str
    blob: bytes

    @property
    def fingerprint(self) -> str:
        """As ``ssh-keygen -l`` shows it: SHA256:<unpadded base64>."""
        digest = base64.b64encode(hashlib.sha256(self.blob).digest()).decode()
        return "SHA256:" + digest.rstrip("=")

    @property
    def line(self) -> str:
        return f"{self.kind} {base64.b64encode(self.blob).decode()}"


def parse_public_key(text: str) -> PublicKey:
    """A key line as ``ssh-keyscan`` or a ``.pub`` file gives it (``TYPE BASE64 [comment]``;
    a leading known_hosts host field is skipped). Raises ValueError in plain words."""
    words = text.split()
    if len(words) >= 3 and words[1] in HOST_KEY_ALGORITHMS:
        words = words[1:]
    if len(words) < 2 or words[0] not in HOST_KEY_ALGORITHMS:
        raise ValueError(
            "give the server's public key line, e.g. 'ssh-ed25519 AAAA...' (from "
            "ssh-keyscan or /etc/ssh/ssh_host_ed25519_key.pub); types: "
            + ", ".join(HOST_KEY_ALGORITHMS)
        )
    try:
        blob = base64.b64decode(words[1], validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        inner = blob[4 : 4 + length].decode("ascii")
    except (ValueError, struct.error, UnicodeDecodeError):
        raise ValueError("the key after the type is not valid base64 key data") from None
    if inner != words[0]:
        raise ValueError(f"the key data is a {inner} key, not {words[0]}")
    return PublicKey(words[0], blob)


def _key_classes(text: str) -> tuple[str, ...]:
    """The paramiko classes to try, the key's own first: each try of an encrypted OpenSSH
    key runs its bcrypt KDF again, so guessing is slow. OpenSSH's format (PROTOCOL.key)
    keeps the public key, and so the type, unencrypted ahead of the private part."""
    if "RSA PRIVATE KEY" in text:
        return ("RSAKey",)
    if "EC PRIVATE KEY" in text:
        return ("ECDSAKey",)
    body = "".join(line for line in text.splitlines() if line and not line.startswith("-"))
    try:
        blob = base64.b64decode(body)
        if blob.startswith(b"openssh-key-v1\0"):
            at = len(b"openssh-key-v1\0")
            for _ in range(3):  # cipher name, KDF name, KDF options
                at += 4 + struct.unpack(">I", blob[at : at + 4])[0]
            at += 4 + 4  # number of keys, length of the first public key
            (length,) = struct.unpack(">I", blob[at : at + 4])
            kind = blob[at + 4 : at + 4 + length].decode("ascii")
            for prefix, name in (("ssh-ed25519", "Ed25519Key"), ("ecdsa-", "ECDSAKey")):
                if kind.startswith(prefix):
                    return (name,)
            if kind == "ssh-rsa":
                return ("RSAKey",)
    except (ValueError, struct.error, UnicodeDecodeError):
        pass
    return _KEY_CLASSES


def load_client_key(text: str, passphrase: str | None) -> Any:
    """A paramiko key from PEM or OpenSSH text. Raises PluginConfigurationError naming the
    option at fault, without anything of the key or passphrase in the message."""
    for name in _key_classes(text):
        try:
            return getattr(paramiko, name).from_private_key(io.StringIO(text), passphrase)
        except paramiko.PasswordRequiredException:
            raise PluginConfigurationError(
                "the private key is encrypted: give its passphrase",
                field="options.private_key_passphrase",
            ) from None
        except (paramiko.SSHException, ValueError, TypeError, IndexError):
            continue
    raise PluginConfigurationError(
        "cannot read the private key: not an Ed25519, ECDSA or RSA key in PEM or OpenSSH "
        "format" + (", or the passphrase is wrong" if passphrase else ""),
        field="options.private_key",
    )
