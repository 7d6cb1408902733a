"""Jobs: the stage a running job is at (kino.progress), for its progress events.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.add_column("jobs", sa.Column("stage", sa.String(32)))


def downgrade():
    op.drop_column("jobs", "stage")
