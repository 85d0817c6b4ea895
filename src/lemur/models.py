"""Imports every model module so that Base.metadata knows every table (for Alembic,
key rotation and test fixtures). Domain code imports the model modules it needs directly."""

from lemur.accounts import models as accounts_models
from lemur.audit import models as audit_models
from lemur.authorities import models as authorities_models
from lemur.certificates import models as certificates_models
from lemur.deployments import models as deployments_models
from lemur.jobs import models as jobs_models
from lemur.keys import models as keys_models
from lemur.notifications import models as notifications_models
from lemur.orders import models as orders_models

__all__ = [
    "accounts_models",
    "audit_models",
    "authorities_models",
    "certificates_models",
    "deployments_models",
    "jobs_models",
    "keys_models",
    "notifications_models",
    "orders_models",
]
