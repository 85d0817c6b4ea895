"""Downloads of a certificate in every export format: GET for the public formats, POST
(with a passphrase, never echoed) for the formats that carry the private key. The same
export service and the same file (name, type, headers) as the API's export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from lemur.certificates.schemas import ExportRequest
from lemur.errors import InvalidInput
from lemur.ids import PathId
from lemur.text import Line
from lemur.ui.certificate_views import detail_page, file_response
from lemur.ui.pages import FORM, FormErrors, FormInvalid, Posted, SignedIn, parse

router = APIRouter()


@router.get("/certificates/{certificate_id:int}/download")
def download(
    visit: SignedIn,
    certificate_id: PathId,
    format: Annotated[Line, Query(max_length=32)] = "pem-bundle",
) -> Response:
    with visit.services() as services:
        exported = services.exports().export(
            certificate_id, fmt=format, passphrase=None, public_only=True
        )
    return file_response(exported)


@router.post("/certificates/{certificate_id:int}/download")
def download_with_key(visit: SignedIn, certificate_id: PathId, form: Posted) -> Response:
    """Not a one-time form: each post is one more download. A refused passphrase shows the
    certificate's page again with the error next to the (emptied) passphrase field."""
    values = {"format": form.get("format")}
    try:
        body = parse(ExportRequest, form)
        passphrase = body.passphrase.get_secret_value().encode() if body.passphrase else None
        with visit.services() as services:
            exported = services.exports().export(
                certificate_id, fmt=body.format, passphrase=passphrase
            )
    except FormInvalid as exc:
        return detail_page(visit, certificate_id, status=422, errors=exc.errors, values=values)
    except InvalidInput as exc:
        field = exc.field if exc.field in ("format", "passphrase") else FORM
        errors = FormErrors({field or FORM: exc.message})
        return detail_page(visit, certificate_id, status=exc.status, errors=errors, values=values)
    return file_response(exported)
