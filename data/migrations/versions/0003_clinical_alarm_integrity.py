"""clinical alarm integrity: dedup per patient or ward, staleness and observation settings, SpO2 scale
prescriptions, the patient trail

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data.types import UTCDateTime

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('active', 'acknowledged')"
OPEN_PATIENT = f'{OPEN} AND patient_id IS NOT NULL'
OPEN_WARD = f'{OPEN} AND patient_id IS NULL'


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('uq_alerts_open_dedup', sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
        batch_op.create_index('uq_alerts_open_dedup_patient', ['hospital_id', 'patient_id', 'dedup_key'],
                              unique=True, sqlite_where=sa.text(OPEN_PATIENT), postgresql_where=sa.text(OPEN_PATIENT))
        batch_op.create_index('uq_alerts_open_dedup_ward', ['hospital_id', 'ward_id', 'dedup_key'],
                              unique=True, sqlite_where=sa.text(OPEN_WARD), postgresql_where=sa.text(OPEN_WARD))
        batch_op.add_column(sa.Column('escalation_anchor_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('escalation_anchor_level', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('condition', sa.String(length=200), nullable=True))

    with op.batch_alter_table('hospitals', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('stale_reading_hours', sa.Integer(), server_default=sa.text('24'), nullable=False))
        batch_op.add_column(sa.Column('news2_max_age_minutes', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('observation_minutes', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('observation_grace_minutes', sa.Integer(), server_default=sa.text('30'), nullable=False))

    with op.batch_alter_table('patients', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('spo2_scale_set_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('spo2_scale_set_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('spo2_scale_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('observations_due_at', UTCDateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_patients_observations_due_at'), ['observations_due_at'], unique=False)

    op.create_table('patient_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('actor_user_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['actor_user_id'], ['users.id'], name=op.f('fk_patient_events_actor_user_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospitals.id'], name=op.f('fk_patient_events_hospital_id_hospitals')),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_patient_events_patient_id_patients')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_patient_events'))
    )
    with op.batch_alter_table('patient_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patient_events_hospital_id'), ['hospital_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_patient_events_patient_id'), ['patient_id'], unique=False)
    _make_patient_events_append_only()


def _make_patient_events_append_only() -> None:
    """Who prescribed a patient's SpO2 scale is evidence: the database refuses UPDATE and DELETE on patient_events."""
    if op.get_bind().dialect.name == 'sqlite':
        for verb in ('UPDATE', 'DELETE'):
            op.execute(
                f"CREATE TRIGGER patient_events_no_{verb.lower()} BEFORE {verb} ON patient_events "
                "BEGIN SELECT RAISE(ABORT, 'patient_events is append-only'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION patient_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'patient_events is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER patient_events_append_only BEFORE UPDATE OR DELETE ON patient_events "
        "FOR EACH ROW EXECUTE FUNCTION patient_events_append_only()"
    )
    op.execute(
        "CREATE TRIGGER patient_events_no_truncate BEFORE TRUNCATE ON patient_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION patient_events_append_only()"
    )


def downgrade() -> None:
    op.drop_table('patient_events')
    if op.get_bind().dialect.name != 'sqlite':
        op.execute('DROP FUNCTION patient_events_append_only()')
    with op.batch_alter_table('patients', schema=None, recreate='never') as batch_op:
        batch_op.drop_index(batch_op.f('ix_patients_observations_due_at'))
        batch_op.drop_column('observations_due_at')
        batch_op.drop_column('spo2_scale_reason')
        batch_op.drop_column('spo2_scale_set_by')
        batch_op.drop_column('spo2_scale_set_at')
    with op.batch_alter_table('hospitals', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('observation_grace_minutes')
        batch_op.drop_column('observation_minutes')
        batch_op.drop_column('news2_max_age_minutes')
        batch_op.drop_column('stale_reading_hours')
    with op.batch_alter_table('alerts', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('condition')
        batch_op.drop_column('escalation_anchor_level')
        batch_op.drop_column('escalation_anchor_at')
        batch_op.drop_index('uq_alerts_open_dedup_ward', sqlite_where=sa.text(OPEN_WARD), postgresql_where=sa.text(OPEN_WARD))
        batch_op.drop_index('uq_alerts_open_dedup_patient', sqlite_where=sa.text(OPEN_PATIENT), postgresql_where=sa.text(OPEN_PATIENT))
        batch_op.create_index('uq_alerts_open_dedup', ['hospital_id', 'dedup_key'], unique=True,
                              sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
