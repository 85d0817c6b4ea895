"""lemur notifications ... and lemur cert mute/unmute against a running server (the same
module-scoped server as the certificate CLI tests)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cert_cli import Lemur, lemur  # noqa: F401  (fixture)
from tests.peers.fixtures import WEBHOOK_SECRET
from tests.peers.receivers import WebhookReceiver


def test_channels_rules_messages_and_mutes_from_the_command_line(
    lemur: Lemur,  # noqa: F811
    webhook_receiver: WebhookReceiver,
    tmp_path: Path,
) -> None:
    options = tmp_path / "hook.json"
    options.write_text(json.dumps({"url": webhook_receiver.url, "timeout": 2}))
    created = lemur.json(
        "notifications",
        "channels",
        "create",
        "ops-hook",
        "--plugin",
        "webhook",
        "--options-file",
        str(options),
        "--secret",
        "secret",
        stdin=WEBHOOK_SECRET + "\n",
    )
    assert created["options"]["secrets_set"] == ["secret"]
    listed = lemur.run("notifications", "channels", "list", "--json")
    assert WEBHOOK_SECRET not in listed.stdout
    assert [c["name"] for c in json.loads(listed.stdout)] == ["ops-hook"]

    updated = lemur.json(
        "notifications", "channels", "update", str(created["id"]), "--option", "timeout=3"
    )
    assert updated["options"]["timeout"] == 3
    assert updated["options"]["secrets_set"] == ["secret"]

    tested = lemur.json("notifications", "channels", "test", str(created["id"]))
    assert tested["delivered"] is True
    assert webhook_receiver.verified()

    rule = lemur.json(
        "notifications",
        "rules",
        "create",
        "expiry",
        "--channel",
        str(created["id"]),
        "--thresholds",
        "30,7,14",
    )
    assert rule["thresholds"] == [30, 14, 7]
    bad = lemur.run(
        "notifications",
        "rules",
        "create",
        "bad",
        "--channel",
        str(created["id"]),
        "--thresholds",
        "30,0",
        "--json",
    )
    assert bad.returncode == 3
    assert json.loads(bad.stdout or bad.stderr)["error"]["field"] == "thresholds[1]"
    assert lemur.json("notifications", "messages", "list", "--state", "failed")["items"] == []
    # The docs' examples, as written there.
    security = lemur.json(
        "notifications",
        "rules",
        "create",
        "security",
        "--channel",
        str(created["id"]),
        "--no-owners",
        "--security-team",
        "-e",
        "job_failed",
        "-e",
        "audit_chain_broken",
        "-e",
        "revoked",
    )
    assert security["events"] == ["job_failed", "audit_chain_broken", "revoked"]
    assert security["recipients"]["security_team"] is True
    disabled = lemur.json("notifications", "rules", "update", str(security["id"]), "--disable")
    assert disabled["enabled"] is False
    assert "security" in lemur.ok("notifications", "rules", "list")

    cert = lemur.issue("muted.example.com")
    muted = lemur.json("cert", "mute", str(cert["id"]), "--reason", "retiring")
    assert muted["reason"] == "retiring"
    assert lemur.json("cert", "unmute", str(cert["id"]))["muted"] is False
    gone = lemur.run("cert", "unmute", str(cert["id"]), "--json")
    assert gone.returncode == 4
