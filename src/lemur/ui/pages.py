"""What a page module needs, in one import (docs/ui.md "Adding pages").

A page module lives in lemur.ui.routes, has a ``router = APIRouter()``, and its handlers
take ``visit: SignedIn`` (and ``form: Posted`` for posts)::

    @router.get("/things/{thing_id:int}")
    def thing(visit: SignedIn, thing_id: int) -> Response:
        with visit.services() as services:
            found = services.things().get(thing_id)
        return visit.render("things/detail.html", thing=found)
"""

from typing import Annotated

from fastapi import Query

from lemur.text import Line
from lemur.ui.api import MaybeSignedIn, Posted, SignedIn
from lemur.ui.forms import (
    FORM,
    Form,
    FormErrors,
    FormInvalid,
    SchemaField,
    parse,
    schema_fields,
    values_for,
)
from lemur.ui.visit import Visit, render

# A query parameter of a page (a filter, a cursor): one line of text, like every input.
QueryLine = Annotated[Line, Query(max_length=512)]

__all__ = [
    "FORM",
    "Form",
    "FormErrors",
    "FormInvalid",
    "MaybeSignedIn",
    "Posted",
    "QueryLine",
    "SchemaField",
    "SignedIn",
    "Visit",
    "parse",
    "render",
    "schema_fields",
    "values_for",
]
