"""HL7 v2 senders registered to hospitals, and the control ids of the messages they sent

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data.types import UTCDateTime

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('hl7_senders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('application', sa.String(length=200), nullable=False),
    sa.Column('facility', sa.String(length=200), nullable=False),
    sa.Column('allowed_from', sa.Text(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospitals.id'], name=op.f('fk_hl7_senders_hospital_id_hospitals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hl7_senders')),
    sa.UniqueConstraint('application', 'facility', name='uq_hl7_senders_application_facility')
    )
    op.create_index(op.f('ix_hl7_senders_hospital_id'), 'hl7_senders', ['hospital_id'], unique=False)
    op.create_table('hl7_messages',
    sa.Column('sender_id', sa.Integer(), nullable=False),
    sa.Column('control_id', sa.String(length=200), nullable=False),
    sa.Column('message_type', sa.String(length=20), nullable=False),
    sa.Column('received_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['sender_id'], ['hl7_senders.id'], name=op.f('fk_hl7_messages_sender_id_hl7_senders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('sender_id', 'control_id', name=op.f('pk_hl7_messages'))
    )
    op.create_index(op.f('ix_hl7_messages_received_at'), 'hl7_messages', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_hl7_messages_received_at'), table_name='hl7_messages')
    op.drop_table('hl7_messages')
    op.drop_index(op.f('ix_hl7_senders_hospital_id'), table_name='hl7_senders')
    op.drop_table('hl7_senders')
