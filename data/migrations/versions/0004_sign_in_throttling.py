"""sign-in throttling per account, address and pair replaces the account lock-out

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from data.types import UTCDateTime

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sign_in_throttles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Float(), nullable=False),
    sa.Column('counted_at', UTCDateTime(), nullable=False),
    sa.Column('blocked_until', UTCDateTime(), nullable=True),
    sa.Column('refused', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('signed_in_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sign_in_throttles')),
    sa.UniqueConstraint('username', 'address', name='uq_sign_in_throttles_username_address')
    )
    op.create_index(op.f('ix_sign_in_throttles_counted_at'), 'sign_in_throttles', ['counted_at'], unique=False)
    # NOTE: plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not batch mode: batch mode copies `users` into a new
    # table and drops the old one, and with foreign keys on that drop deletes every user's ward assignments.
    op.drop_column('users', 'locked_until')
    op.drop_column('users', 'failed_logins')


def downgrade() -> None:
    op.add_column('users', sa.Column('failed_logins', sa.Integer(), server_default=sa.text('0'), nullable=False))
    op.add_column('users', sa.Column('locked_until', UTCDateTime(), nullable=True))
    op.drop_index(op.f('ix_sign_in_throttles_counted_at'), table_name='sign_in_throttles')
    op.drop_table('sign_in_throttles')
