"""lemur cert: request, import, list, show, edit, archive, export, revoke and renew
certificates through the API of a running Lemur (LEMUR_URL, LEMUR_TOKEN; see ``lemur.cli.client``).

One module per kind of work; each parses the API's answers with the API's output schemas
(``lemur.certificates.schemas``) and renders them for people or as JSON.
"""

from __future__ import annotations

import typer

from lemur.cli import notifications as notification_commands
from lemur.cli.certs import (
    deploy,
    export,
    issue,
    lifecycle,
    listing,
    names,
    renewals,
    settings,
    show,
    stats,
)

cert = typer.Typer(
    help="Request, import, find, edit, archive, export, revoke and renew certificates (through "
    "the API: LEMUR_URL, LEMUR_TOKEN).",
    no_args_is_help=True,
)

cert.command("request")(issue.request)
cert.command("check-names")(names.check_names)
cert.command("import")(issue.import_)
cert.command("list")(listing.list_)
cert.command("show")(show.show)
cert.command("edit")(settings.edit)
cert.command("archive")(settings.archive)
cert.command("unarchive")(settings.unarchive)
cert.command("stats")(stats.stats)
cert.command("export")(export.export)
cert.command("deploy")(deploy.deploy)
cert.command("deployments")(deploy.deployments)
cert.command("undeploy")(deploy.undeploy)
cert.command("rotate")(deploy.rotate)
cert.command("blast-radius")(deploy.blast_radius)
cert.command("revoke")(lifecycle.revoke)
cert.command("renew")(lifecycle.renew)
cert.command("renewals")(renewals.renewals)
cert.command("mute")(notification_commands.mute)
cert.command("unmute")(notification_commands.unmute)

__all__ = ["cert"]
