"""what an authority allows requesters to choose for a leaf

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10

``authorities.allowed_subject_fields`` (organization, organizational_unit, country, state,
locality) and ``authorities.allowed_extended_key_usages`` (server_auth, client_auth,
code_signing, email_protection, time_stamping): comma-separated names
(lemur.authorities.allowances). Existing private CAs allow all of them; existing CA/Browser
Forum authorities a country only (domain validation) and TLS server and client
authentication, as new ones do by default.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRIVATE_SUBJECT_FIELDS = "organization,organizational_unit,country,state,locality"
PRIVATE_EXTENDED_KEY_USAGES = "server_auth,client_auth,code_signing,email_protection,time_stamping"
CAB_FORUM_SUBJECT_FIELDS = "country"
CAB_FORUM_EXTENDED_KEY_USAGES = "server_auth,client_auth"


def upgrade() -> None:
    with op.batch_alter_table("authorities") as batch:
        batch.add_column(
            sa.Column(
                "allowed_subject_fields",
                sa.String(length=128),
                nullable=False,
                server_default=PRIVATE_SUBJECT_FIELDS,
            )
        )
        batch.add_column(
            sa.Column(
                "allowed_extended_key_usages",
                sa.String(length=256),
                nullable=False,
                server_default=PRIVATE_EXTENDED_KEY_USAGES,
            )
        )
    authorities = sa.table(
        "authorities",
        sa.column("cab_forum", sa.Boolean()),
        sa.column("allowed_subject_fields", sa.String()),
        sa.column("allowed_extended_key_usages", sa.String()),
    )
    op.execute(
        authorities.update()
        .where(authorities.c.cab_forum == sa.true())
        .values(
            allowed_subject_fields=CAB_FORUM_SUBJECT_FIELDS,
            allowed_extended_key_usages=CAB_FORUM_EXTENDED_KEY_USAGES,
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("authorities") as batch:
        batch.drop_column("allowed_extended_key_usages")
        batch.drop_column("allowed_subject_fields")
