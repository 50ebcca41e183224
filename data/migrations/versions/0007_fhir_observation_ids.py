"""vital readings remember the FHIR Observation they came in, so it can be read back by its id

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NOTE: in place (ALTER TABLE ... ADD COLUMN, CREATE INDEX), never a table copy: vital_readings is the largest
    # table, and copying it would hold the write lock for as long as that takes.
    with op.batch_alter_table('vital_readings', recreate='never') as batch:
        batch.add_column(sa.Column('observation_id', sa.String(length=64), nullable=True))
        batch.create_index('ix_vital_readings_hospital_observation', ['hospital_id', 'observation_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('vital_readings', recreate='never') as batch:
        batch.drop_index('ix_vital_readings_hospital_observation')
        batch.drop_column('observation_id')
