"""Alembic environment: async, for SQLite and PostgreSQL; reuses a connection handed in by data.migrate."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from data.engine import create_engine
from data.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == 'sqlite',
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(config.get_main_option('sqlalchemy.url') or '')
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option('sqlalchemy.url'), target_metadata=target_metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get('connection')) is not None:
    _run(shared)
else:
    asyncio.run(_run_online())
