"""Schema migrations on SQLite and PostgreSQL, SQLite's connection settings, the append-only audit trail and the
idempotent demo seed (in process and through a real `python main.py --demo` server)."""

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Row, make_url
from sqlalchemy.exc import DBAPIError

from app.bootstrap import Vigil, build, seed
from app.config import Settings
from app.domain import Priority
from app.schemas import NewAlert
from data.engine import create_engine
from data.migrate import current_revision, head_revision, upgrade_to_head
from data.models import AlertEvent, Hospital, Patient, User, Ward

from .conftest import POSTGRES_URL, World, run_sync, unavailable

REPO = Path(__file__).resolve().parent.parent
DEMO_COUNTS = {'hospitals': 2, 'wards': 4, 'patients': 29, 'users': 5}
SERVER_START_TIMEOUT = 30.0


def plain_dsn(url: str, database: str | None = None) -> str:
    """The asyncpg DSN of a SQLAlchemy PostgreSQL URL (optionally for another database)."""
    parsed = make_url(url).set(drivername='postgresql')
    return parsed.set(database=database or parsed.database).render_as_string(hide_password=False)


@pytest.fixture(params=['sqlite', pytest.param('postgresql', marks=pytest.mark.postgres)])
async def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A database with no schema at all: a SQLite file in a folder not yet there, or a new PostgreSQL database."""
    if request.param == 'sqlite':
        yield f'sqlite+aiosqlite:///{tmp_path / "new" / "folder" / "vigil.db"}'
        return
    name = f'vigil_test_empty_{os.getpid()}_{uuid.uuid4().hex[:8]}'
    try:
        admin = await asyncpg.connect(plain_dsn(POSTGRES_URL), timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        unavailable(f'PostgreSQL at {make_url(POSTGRES_URL).host}:{make_url(POSTGRES_URL).port} unreachable: {error}')
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        admin = await asyncpg.connect(plain_dsn(POSTGRES_URL), timeout=5)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: c.dialect.get_table_names(c)))
    finally:
        await engine.dispose()


# --- migrations ----------------------------------------------------------------------------------------------------

async def test_upgrade_takes_an_empty_database_to_the_newest_revision(empty_database: str) -> None:
    await upgrade_to_head(empty_database)

    assert head_revision() is not None
    assert await current_revision(empty_database) == head_revision()
    assert {'hospitals', 'wards', 'users', 'patients', 'alerts', 'alert_events', 'api_tokens', 'event_log',
            'vital_readings', 'user_wards', 'alembic_version'} <= await table_names(empty_database)


async def test_upgrading_an_up_to_date_database_again_is_harmless(empty_database: str) -> None:
    await upgrade_to_head(empty_database)
    tables = await table_names(empty_database)

    await upgrade_to_head(empty_database)

    assert await current_revision(empty_database) == head_revision()
    assert await table_names(empty_database) == tables


async def test_processes_starting_at_once_on_a_new_database_migrate_it_once(empty_database: str) -> None:
    """Several Vigil processes started together (a deployment) all come up; the schema is built once."""
    async with asyncio.timeout(60):  # without the migration lock, PostgreSQL leaves them waiting on each other
        await asyncio.gather(*(upgrade_to_head(empty_database) for _ in range(3)))

    assert await current_revision(empty_database) == head_revision()
    engine = create_engine(empty_database)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text('SELECT count(*) FROM alembic_version'))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as connection:
            journal_mode = await connection.scalar(text('PRAGMA journal_mode'))
            busy_timeout = await connection.scalar(text('PRAGMA busy_timeout'))
            foreign_keys = await connection.scalar(text('PRAGMA foreign_keys'))
    finally:
        await engine.dispose()
    assert journal_mode == 'wal'
    assert busy_timeout > 0
    assert foreign_keys == 1



async def test_connections_opening_a_new_sqlite_database_at_once_all_get_wal(tmp_path: Path) -> None:
    """Connections racing to switch a new file to WAL: SQLite tells the losers "database is locked" at once (it does
    not wait on the busy timeout, to avoid a deadlock); each must retry instead of failing to start."""
    async def open_and_ask(url: str) -> str:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return str(await connection.scalar(text('PRAGMA journal_mode')))
        finally:
            await engine.dispose()

    for attempt in range(25):  # one round in ten loses the race without the retry, measured with four connections
        url = f'sqlite+aiosqlite:///{tmp_path / f"race-{attempt}.db"}'
        assert await asyncio.gather(*(open_and_ask(url) for _ in range(4))) == ['wal'] * 4

# --- the audit trail -----------------------------------------------------------------------------------------------

async def test_the_audit_trail_refuses_update_and_delete(vigil: Vigil, world: World) -> None:
    await vigil.alerts.raise_alert(world.a.actor('nurse'), NewAlert(
        priority=Priority.HIGH, message='Patient fall', patient_id=world.a.patient_ids['North-1']))
    statements = ["UPDATE alert_events SET note = 'rewritten'", 'DELETE FROM alert_events']
    if vigil.engine.dialect.name == 'postgresql':
        statements.append('TRUNCATE alert_events')

    before = await audit_rows(vigil)

    for statement in statements:
        with pytest.raises(DBAPIError, match='append-only'):
            async with vigil.engine.begin() as connection:
                await connection.execute(text(statement))

    assert [(row.type, row.note) for row in before] == [('raised', 'Patient fall')]
    assert await audit_rows(vigil) == before


async def audit_rows(vigil: Vigil) -> list[Row[Any]]:
    async with vigil.engine.connect() as connection:
        return list((await connection.execute(select(AlertEvent.__table__))).all())


# --- the demo seed -------------------------------------------------------------------------------------------------

async def row_counts(vigil: Vigil) -> dict[str, int]:
    async with vigil.db.read() as session:
        return {name: await session.scalar(select(func.count()).select_from(model)) or 0
                for name, model in (('hospitals', Hospital), ('wards', Ward), ('patients', Patient), ('users', User))}


async def test_seeding_the_demo_twice_creates_everything_once(vigil: Vigil) -> None:
    first = await seed(vigil)
    second = await seed(vigil)

    assert first.created == DEMO_COUNTS
    assert second.total == 0
    assert await row_counts(vigil) == DEMO_COUNTS
    assert (await vigil.users.authenticate('nurse', 'demo', address='127.0.0.1')).username == 'nurse'


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


def run_demo_server(data_dir: Path, *, cwd: Path = REPO, **settings: str) -> str:
    """Start `python main.py --demo`, wait until /healthz answers, stop it with SIGTERM; return its stdout."""
    port = free_port()
    # Nothing inherited from VIGIL_*, NiceGUI's or pytest's variables (NiceGUI serves differently under pytest).
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(('VIGIL_', 'NICEGUI_', 'PYTEST_'))}
    env.update({'VIGIL_DATA_DIR': str(data_dir), 'VIGIL_DATABASE_URL': '', 'VIGIL_REDIS_URL': '',
                'VIGIL_PORT': str(port), 'NICEGUI_STORAGE_PATH': str(data_dir / 'nicegui'), **settings})
    stdout_path = data_dir / f'server-{port}.out'
    with stdout_path.open('w') as stdout:
        server = subprocess.Popen([sys.executable, str(REPO / 'main.py'), '--demo'], cwd=cwd, env=env, stdout=stdout,
                                  stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        status = None
        while status != 200:
            assert server.poll() is None, f'the server exited early: {server.communicate()[1]}'
            assert time.monotonic() < deadline, f'no answer on /healthz within {SERVER_START_TIMEOUT} s'
            try:
                status = httpx.get(f'http://127.0.0.1:{port}/healthz', timeout=1).status_code
            except httpx.TransportError:
                time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        _, stderr = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal with its default handler.
    assert server.returncode in {0, -signal.SIGTERM}, stderr
    assert 'Traceback' not in stderr
    output = stdout_path.read_text()
    assert f'open http://127.0.0.1:{port}/login' in output
    return output


def test_the_demo_server_seeds_once_and_keeps_its_password_across_restarts(tmp_path: Path) -> None:
    password = 'a demo password of our own'

    first = run_demo_server(tmp_path, VIGIL_DEMO_PASSWORD=password)
    after_first = counts_in(tmp_path)
    second = run_demo_server(tmp_path)

    assert after_first == DEMO_COUNTS
    assert counts_in(tmp_path) == DEMO_COUNTS
    assert 'set by VIGIL_DEMO_PASSWORD' in first
    assert password not in first + second
    assert authenticates(tmp_path, 'charge', password)
    assert not authenticates(tmp_path, 'charge', 'demo')


def test_the_demo_server_takes_its_password_from_a_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / '.env').write_text('VIGIL_DEMO_PASSWORD=a password in the dotenv file\n')

    output = run_demo_server(tmp_path, cwd=tmp_path)

    assert 'the password is set by VIGIL_DEMO_PASSWORD' in output
    assert authenticates(tmp_path, 'rnurse', 'a password in the dotenv file')


def counts_in(data_dir: Path) -> dict[str, int]:
    with sqlite3.connect(data_dir / 'vigil.db') as connection:
        return {table: connection.execute(f'SELECT count(*) FROM {table}').fetchone()[0]  # noqa: S608
                for table in DEMO_COUNTS}


def authenticates(data_dir: Path, username: str, password: str) -> bool:
    async def attempt() -> bool:
        vigil = build(Settings(data_dir=data_dir, database_url=None))
        try:
            await vigil.users.authenticate(username, password, address='127.0.0.1')
        except Exception:
            return False
        finally:
            await vigil.close()
        return True
    return run_sync(attempt)



def seeding(url: str) -> tuple[Any, dict[str, datetime], Callable[[Any, str], None]]:
    """For seeding a database at an old revision: a `:now` parameter, its value, and `upgrade(connection, revision)`
    (the SQLite file's folder is made)."""
    from alembic import command
    from sqlalchemy import bindparam

    from data.migrate import alembic_config
    from data.types import UTCDateTime

    if url.startswith('sqlite'):
        Path(url.split('///', 1)[1]).parent.mkdir(parents=True)

    def upgrade(connection: Any, revision: str) -> None:
        config = alembic_config(url)
        config.attributes['connection'] = connection
        command.upgrade(config, revision)

    return bindparam('now', type_=UTCDateTime()), {'now': datetime(2026, 12, 1, 8, 0, tzinfo=UTC)}, upgrade


async def test_dropping_the_old_lockout_columns_keeps_every_account_and_its_wards(empty_database: str) -> None:
    """0004 drops users.failed_logins and locked_until in place: a table copy would cascade-delete ward assignments."""
    now, at, upgrade = seeding(empty_database)

    engine = create_engine(empty_database)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade, '0003')
            await connection.execute(text(
                "INSERT INTO hospitals (id, slug, name, event_seq, created_at) VALUES (1, 'h', 'H', 0, :now)")
                .bindparams(now), at)
            await connection.execute(text("INSERT INTO wards (id, hospital_id, name) VALUES (1, 1, 'North')"))
            await connection.execute(text(
                "INSERT INTO users (id, hospital_id, username, display_name, role, password_hash, active, "
                "failed_logins, locked_until, password_changed_at, created_at) VALUES (1, 1, 'nurse', 'N', 'nurse', "
                "'x', true, 4, :now, :now, :now)").bindparams(now), at)
            await connection.execute(text('INSERT INTO user_wards (user_id, ward_id) VALUES (1, 1)'))
        await upgrade_to_head(empty_database)
        async with engine.connect() as connection:
            columns = await connection.run_sync(lambda c: {col['name'] for col in
                                                           c.dialect.get_columns(c, 'users')})
            wards = (await connection.execute(text('SELECT user_id, ward_id FROM user_wards'))).all()
    finally:
        await engine.dispose()
    assert not {'failed_logins', 'locked_until'} & columns and 'username' in columns
    assert [tuple(row) for row in wards] == [(1, 1)]
    assert 'sign_in_throttles' in await table_names(empty_database)


WAVE_ONE_TABLES = ('hospitals', 'wards', 'patients', 'users', 'user_wards', 'alerts', 'alert_events', 'vital_readings',
                   'latest_vitals', 'api_tokens')


@pytest.mark.parametrize('start', ['0001', '0002'])
async def test_a_wave_one_database_with_patients_alerts_and_audit_upgrades_to_head_keeping_every_row(
        empty_database: str, start: str) -> None:
    """A hospital running an earlier release (revision 0001 or 0002) upgrades in place: no table copy may drop or
    cascade-delete rows (the audit trail refuses deletes; ward assignments and alerts hang off the altered tables)."""
    now, at, upgrade = seeding(empty_database)

    rows = [
        "INSERT INTO hospitals (id, slug, name, event_seq, created_at) VALUES (1, 'h', 'H', 0, :now)",
        "INSERT INTO wards (id, hospital_id, name) VALUES (1, 1, 'North')",
        "INSERT INTO patients (id, hospital_id, ward_id, mrn, name, bed, spo2_scale, admitted_at) "
        "VALUES (1, 1, 1, 'MRN1', 'Ada', 'N-1', 1, :now)",
        "INSERT INTO users (id, hospital_id, username, display_name, role, password_hash, active, failed_logins, "
        "locked_until, password_changed_at, created_at) VALUES (1, 1, 'nurse', 'N', 'nurse', 'x', true, 0, NULL, "
        ":now, :now)",
        'INSERT INTO user_wards (user_id, ward_id) VALUES (1, 1)',
        "INSERT INTO alerts (id, hospital_id, ward_id, patient_id, kind, priority, status, message, dedup_key, "
        "occurrences, escalation_level, created_at, created_by, last_triggered_at, version) VALUES (1, 1, 1, 1, "
        "'vital', 'critical', 'active', 'SpO2 85 %', 'spo2', 1, 0, :now, 'monitor', :now, 1)",
        "INSERT INTO alert_events (id, alert_id, hospital_id, type, at, actor, to_status, escalation_level) "
        "VALUES (1, 1, 1, 'raised', :now, 'monitor', 'active', 0)",
        "INSERT INTO vital_readings (id, hospital_id, patient_id, kind, value, unit, measured_at, recorded_at, source) "
        "VALUES (1, 1, 1, 'spo2', 85, '%', :now, :now, 'monitor')",
        "INSERT INTO latest_vitals (patient_id, kind, value, unit, measured_at) VALUES (1, 'spo2', 85, '%', :now)",
        "INSERT INTO api_tokens (id, hospital_id, kind, name, token_hash, prefix, created_at) "
        "VALUES (1, 1, 'device', 'Monitor gateway', 'ab12', 'vgl_ab', :now)",
    ]
    engine = create_engine(empty_database)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade, start)
            for statement in rows:
                await connection.execute(text(statement).bindparams(now) if ':now' in statement else text(statement),
                                         at if ':now' in statement else {})
        await upgrade_to_head(empty_database)
        async with engine.connect() as connection:
            counts = {table: (await connection.execute(text(f'SELECT count(*) FROM {table}'))).scalar_one()  # noqa: S608
                      for table in WAVE_ONE_TABLES}
    finally:
        await engine.dispose()
    assert counts == dict.fromkeys(WAVE_ONE_TABLES, 1)
    assert await current_revision(empty_database) == head_revision()


async def test_the_hl7_sender_tables_come_with_0005_and_go_with_its_downgrade(empty_database: str) -> None:
    """0005 only adds the HL7 sender registry and its message control ids: down to 0004 and up again, every other
    table stays as it was."""
    from alembic import command

    from data.migrate import alembic_config

    _, _, upgrade = seeding(empty_database)

    def downgrade(connection: Any, revision: str) -> None:
        config = alembic_config(empty_database)
        config.attributes['connection'] = connection
        command.downgrade(config, revision)

    engine = create_engine(empty_database)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade, '0004')
        before = await table_names(empty_database)
        async with engine.begin() as connection:
            await connection.run_sync(upgrade, '0005')
        assert await table_names(empty_database) == before | {'hl7_senders', 'hl7_messages'}
        async with engine.begin() as connection:
            await connection.run_sync(downgrade, '0004')
        assert await table_names(empty_database) == before
        await upgrade_to_head(empty_database)
        assert await current_revision(empty_database) == head_revision()
    finally:
        await engine.dispose()


async def test_readings_stored_before_0007_keep_their_rows_and_are_observations_of_their_own(
        empty_database: str) -> None:
    """0007 adds vital_readings.observation_id in place; every earlier reading keeps its row, id and values, and has
    no Observation id (it answers over FHIR under its own number)."""
    now, at, upgrade = seeding(empty_database)

    engine = create_engine(empty_database)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade, '0004')
            await connection.execute(text(
                "INSERT INTO hospitals (id, slug, name, event_seq, created_at) VALUES (1, 'h', 'H', 0, :now)")
                .bindparams(now), at)
            await connection.execute(text("INSERT INTO wards (id, hospital_id, name) VALUES (1, 1, 'North')"))
            await connection.execute(text(
                "INSERT INTO patients (id, hospital_id, ward_id, mrn, name, bed, spo2_scale, admitted_at) "
                "VALUES (1, 1, 1, 'M1', 'P', 'B1', 1, :now)").bindparams(now), at)
            await connection.execute(text(
                "INSERT INTO vital_readings (id, hospital_id, patient_id, kind, value, unit, measured_at, recorded_at, "
                "source) VALUES (41, 1, 1, 'heart_rate', 88, '/min', :now, :now, 'token:monitor')").bindparams(now), at)
        await upgrade_to_head(empty_database)
        async with engine.connect() as connection:
            rows = (await connection.execute(text(
                'SELECT id, kind, value, observation_id FROM vital_readings'))).all()
            indexes = await connection.run_sync(lambda c: {i['name'] for i in
                                                           c.dialect.get_indexes(c, 'vital_readings')})
    finally:
        await engine.dispose()
    assert [tuple(row) for row in rows] == [(41, 'heart_rate', 88.0, None)]
    assert 'ix_vital_readings_hospital_observation' in indexes
