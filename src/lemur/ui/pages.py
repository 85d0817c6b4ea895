"""What a page module needs, in one import (docs/ui.md "Adding pages").

A page module lives in lemur.ui.routes, has a ``router = APIRouter()``, and its handlers
take ``visit: SignedIn`` (and ``form: Posted`` for posts)::

    @router.get("/things/{thing_id:int}")
    def thing(visit: SignedIn, thing_id: int) -> Response:
        with visit.services() as services:
            found = services.things().get(thing_id)
        return visit.render("things/detail.html", thing=found)
"""

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

__all__ = [
    "FORM",
    "Form",
    "FormErrors",
    "FormInvalid",
    "MaybeSignedIn",
    "Posted",
    "SchemaField",
    "SignedIn",
    "Visit",
    "parse",
    "render",
    "schema_fields",
    "values_for",
]
