"""Screenshots of the main pages for docs/ui.md: a fresh `lemur serve` with a few teams and
certificates, driven by headless Chromium. Run: .venv/bin/python scripts/screenshots.py"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lemur.accounts.models import Role  # noqa: E402
from lemur.authz import cli_principal  # noqa: E402
from lemur.certificates.requests import NewCertificate  # noqa: E402
from lemur.crypto.keys import KeySpec  # noqa: E402
from lemur.crypto.profiles import Profile  # noqa: E402
from lemur.services import Services  # noqa: E402
from tests.peers.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.peers.server import start_server  # noqa: E402
from tests.ui.support import log_in, server_container  # noqa: E402

OUT = ROOT / "docs" / "images"
NAMES = ["shop", "api", "checkout", "admin", "status", "billing", "search", "media"]


def seed(server, web_root: Path) -> tuple[str, str, int, int]:  # type: ignore[no-untyped-def]
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            accounts = services.accounts()
            user, _ = accounts.create_user("dana", role=Role.SECURITY, password="dana-screens-123")
            teams = [accounts.create_team(n) for n in ("payments", "platform", "web")]
            for team in teams:
                accounts.add_member(team, user)
            authority = next(
                a for a in services.authorities().list() if a.name == "local-issuing-ca"
            )
        with Services(container, cli_principal()) as services:
            destination = services.destinations().create(
                "web-1",
                "directory",
                {"directory": str(web_root)},
                description="nginx on web-1: /etc/nginx/tls/shop",
            )
        first = 0
        for i, name in enumerate(NAMES):
            with Services(container, cli_principal()) as services:
                issued = services.issuance().issue(
                    NewCertificate(
                        team_id=teams[i % 3].id,
                        authority_id=authority.id,
                        common_name=None,
                        dns_names=(f"{name}.example.test", f"www.{name}.example.test"),
                        ip_addresses=(),
                        emails=(),
                        uris=(),
                        profile=Profile.SERVER,
                        validity_days=(5, 20, 45, 80, 200, 300, 12, 60)[i],
                        key_spec=KeySpec.EC_P256,
                        csr=None,
                        destinations=(destination.id,) if i == 0 else (),
                    )
                )
                first = first or issued.certificate.id
    finally:
        container.close()
    return "dana", "dana-screens-123", first, destination.id


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp) / "data")
        try:
            web_root = Path(tmp) / "web-1"
            web_root.mkdir()
            username, password, cert_id, destination_id = seed(server, web_root)
            pages = {
                "dashboard": "/",
                "inventory": "/certificates",
                "request": "/certificates/new",
                "certificate": f"/certificates/{cert_id}",
                "authorities": "/authorities",
                "destination": f"/destinations/{destination_id}",
                "audit": "/audit",
            }
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                page = browser.new_page(
                    base_url=server.base_url, viewport={"width": 1200, "height": 860}
                )
                log_in(page, username, password)
                for name, path in pages.items():
                    page.goto(path)
                    if name == "certificate":  # the deployment job has run by now
                        page.reload()
                    page.screenshot(path=str(OUT / f"{name}.png"), full_page=False)
                    print(f"docs/images/{name}.png  {path}")
                phone = browser.new_page(
                    base_url=server.base_url, viewport={"width": 390, "height": 844}
                )
                log_in(phone, username, password)
                phone.goto("/certificates")
                phone.screenshot(path=str(OUT / "inventory-phone.png"))
                print("docs/images/inventory-phone.png  /certificates at 390 px")
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
