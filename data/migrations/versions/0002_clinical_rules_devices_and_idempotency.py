"""clinical rules, devices and idempotency

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data.types import UTCDateTime

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('critical_limits',
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('low', sa.Float(), nullable=True),
    sa.Column('high', sa.Float(), nullable=True),
    sa.Column('persistence_seconds', sa.Integer(), nullable=False),
    sa.Column('persistence_readings', sa.Integer(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospitals.id'], name=op.f('fk_critical_limits_hospital_id_hospitals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('hospital_id', 'kind', name=op.f('pk_critical_limits'))
    )
    op.create_table('escalation_policies',
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.String(length=10), nullable=False),
    sa.Column('minutes', sa.JSON(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('updated_by', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospitals.id'], name=op.f('fk_escalation_policies_hospital_id_hospitals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('hospital_id', 'priority', name=op.f('pk_escalation_policies'))
    )
    op.create_table('idempotency_keys',
    sa.Column('token_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospitals.id'], name=op.f('fk_idempotency_keys_hospital_id_hospitals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], name=op.f('fk_idempotency_keys_token_id_api_tokens'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_id', 'key', name=op.f('pk_idempotency_keys'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_keys_created_at'), ['created_at'], unique=False)

    op.create_table('snoozes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=100), nullable=False),
    sa.Column('until', UTCDateTime(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospitals.id'], name=op.f('fk_snoozes_hospital_id_hospitals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_snoozes_patient_id_patients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_snoozes'))
    )
    with op.batch_alter_table('snoozes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_snoozes_hospital_id'), ['hospital_id'], unique=False)
        batch_op.create_index('ix_snoozes_patient_trigger', ['patient_id', 'trigger', 'until'], unique=False)

    op.create_table('trigger_states',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('trigger', sa.String(length=100), nullable=False),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('breach_since', UTCDateTime(), nullable=False),
    sa.Column('readings', sa.Integer(), nullable=False),
    sa.Column('last_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospitals.id'], name=op.f('fk_trigger_states_hospital_id_hospitals'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], name=op.f('fk_trigger_states_patient_id_patients'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('patient_id', 'trigger', name=op.f('pk_trigger_states'))
    )
    with op.batch_alter_table('trigger_states', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trigger_states_hospital_id'), ['hospital_id'], unique=False)

    with op.batch_alter_table('alerts', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('cleared_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('snoozed_until', UTCDateTime(), nullable=True))

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('last_ward_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('silent_since', UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_api_tokens_last_ward_id_wards'), 'wards', ['last_ward_id'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('sessions_revoked_at', UTCDateTime(), nullable=True))

    op.create_table('rule_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hospital_id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('change', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['hospital_id'], ['hospitals.id'], name=op.f('fk_rule_changes_hospital_id_hospitals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_changes'))
    )
    with op.batch_alter_table('rule_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rule_changes_hospital_id'), ['hospital_id'], unique=False)
    _make_rule_changes_append_only()

    with op.batch_alter_table('hospitals', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('device_silence_seconds', sa.Integer(), server_default=sa.text('120'), nullable=False))
        batch_op.add_column(sa.Column('alarms_latch', sa.Boolean(), server_default=sa.true(), nullable=False))



def _make_rule_changes_append_only() -> None:
    """Who changed an alarm limit is evidence: the database refuses UPDATE and DELETE on rule_changes."""
    if op.get_bind().dialect.name == 'sqlite':
        for verb in ('UPDATE', 'DELETE'):
            op.execute(
                f"CREATE TRIGGER rule_changes_no_{verb.lower()} BEFORE {verb} ON rule_changes "
                "BEGIN SELECT RAISE(ABORT, 'rule_changes is append-only'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION rule_changes_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'rule_changes is append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER rule_changes_append_only BEFORE UPDATE OR DELETE ON rule_changes "
        "FOR EACH ROW EXECUTE FUNCTION rule_changes_append_only()"
    )
    op.execute(
        "CREATE TRIGGER rule_changes_no_truncate BEFORE TRUNCATE ON rule_changes "
        "FOR EACH STATEMENT EXECUTE FUNCTION rule_changes_append_only()"
    )


def downgrade() -> None:
    op.drop_table('rule_changes')
    if op.get_bind().dialect.name != 'sqlite':
        op.execute('DROP FUNCTION rule_changes_append_only()')
    with op.batch_alter_table('users', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('sessions_revoked_at')

    with op.batch_alter_table('hospitals', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('alarms_latch')
        batch_op.drop_column('device_silence_seconds')

    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_api_tokens_last_ward_id_wards'), type_='foreignkey')
        batch_op.drop_column('silent_since')
        batch_op.drop_column('last_ward_id')
        batch_op.drop_column('last_seen_at')

    with op.batch_alter_table('alerts', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('snoozed_until')
        batch_op.drop_column('cleared_at')

    with op.batch_alter_table('trigger_states', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trigger_states_hospital_id'))

    op.drop_table('trigger_states')
    with op.batch_alter_table('snoozes', schema=None) as batch_op:
        batch_op.drop_index('ix_snoozes_patient_trigger')
        batch_op.drop_index(batch_op.f('ix_snoozes_hospital_id'))

    op.drop_table('snoozes')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_keys_created_at'))

    op.drop_table('idempotency_keys')
    op.drop_table('escalation_policies')
    op.drop_table('critical_limits')

