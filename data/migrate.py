"""Create or upgrade a database to the newest schema with Alembic (works inside a running event loop)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from .engine import create_engine, is_sqlite

MIGRATIONS = Path(__file__).resolve().parent / 'migrations'
# An arbitrary constant naming Vigil's migration lock among PostgreSQL advisory locks ("vigil" in ASCII).
MIGRATION_LOCK_KEY = 0x766967696C


def alembic_config(url: str | None = None) -> Config:
    """Build the Alembic configuration without an ini file."""
    config = Config()
    config.set_main_option('script_location', str(MIGRATIONS))
    if url:
        config.set_main_option('sqlalchemy.url', url.replace('%', '%%'))
    return config


def head_revision() -> str | None:
    """Return the newest migration revision."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def upgrade_to_head(url: str) -> None:
    """Migrate the database at url to head (creating the SQLite file and its folder if needed)."""
    if is_sqlite(url):
        database = url.split('///', 1)[-1].split('?', 1)[0]
        if database and database != ':memory:':
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, alembic_config(url))
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, config: Config) -> None:
    if connection.dialect.name == 'postgresql':
        # Several processes starting at once on a new database: one migrates, the others wait here, then find the
        # schema at head and do nothing. (SQLite serialises writers itself.) Released when the transaction ends.
        connection.execute(text('SELECT pg_advisory_xact_lock(:key)'), {'key': MIGRATION_LOCK_KEY})
    config.attributes['connection'] = connection
    command.upgrade(config, 'head')


async def current_revision(url: str) -> str | None:
    """Return the revision the database at url is on (None for an empty database)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    finally:
        await engine.dispose()
