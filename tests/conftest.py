"""Shared fixtures: a migrated database per test (SQLite file, or a PostgreSQL database of its own), a
controllable clock, a small two-hospital world, and a Vigil wired to them."""

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
import redis
from sqlalchemy.engine import make_url

from app.bootstrap import Vigil, build
from app.config import Settings
from app.domain import Role
from app.events import Event
from app.schemas import Actor, UserView
from app.security import PasswordHasher
from data.migrate import upgrade_to_head
from data.models import Hospital, Patient, User, Ward

IN_CI = os.environ.get('CI', '').lower() in {'1', 'true', 'yes'}
POSTGRES_URL = os.environ.get('VIGIL_TEST_POSTGRES_URL', 'postgresql+asyncpg://postgres@127.0.0.1:5432/test')
REDIS_URL = os.environ.get('VIGIL_TEST_REDIS_URL', 'redis://127.0.0.1:6379/0')
T = TypeVar('T')
TEST_PASSWORD = 'correct horse battery'


# --- parallel runs (pytest-xdist) -----------------------------------------------------------------------------------

# The README's command runs the suite on two workers with `--dist loadgroup`. Tests that drive Chromium, build the
# binary, fuzz a server or measure a server's memory run on one worker, one after another (never two of them at once),
# while the other worker takes the rest. Isolation between workers: each is a process of its own, with its own
# PostgreSQL template and databases and Redis prefix (named after its pid and a random part), temporary folders
# (tmp_path) and free ports.
ONE_AT_A_TIME = 'one-at-a-time'


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line('markers', 'heavy: loads or measures a real server (memory, floods): never runs beside '
                                       'another heavy, browser or slow test under pytest-xdist')


ONE_AT_A_TIME_MARKERS = ('browser', 'slow', 'heavy')


def pytest_itemcollected(item: pytest.Item) -> None:
    if item.config.pluginmanager.hasplugin('xdist') and any(map(item.get_closest_marker, ONE_AT_A_TIME_MARKERS)):
        item.add_marker(pytest.mark.xdist_group(ONE_AT_A_TIME))


@pytest.hookimpl(trylast=True)  # after pytest-xdist's hook of the same name
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a worker under `--dist loadgroup`, make sure the group reaches the scheduler.

    pytest-xdist tells the scheduler a test's group by a suffix of its node id (`...::test@group`), which it writes to
    `item._nodeid`. pytest 9.2 keeps node ids in `item._id` instead, so the suffix is lost and every group is spread
    over the workers without a word (pytest-xdist issue #1386): write it where this pytest reads it.
    """
    if not getattr(config.option, 'loadgroup', False):  # set in pytest-xdist's workers only
        return
    for item in items:
        groups = sorted({str(mark.args[0] if mark.args else mark.kwargs.get('name', 'default'))
                         for mark in item.iter_markers('xdist_group')})
        if not groups or item.nodeid.endswith('@' + '_'.join(groups)):
            continue
        item._id = type(item._id).parse(f'{item.nodeid}@{"_".join(groups)}')  # the pytest 9.2 form of the id


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a fresh loop in a worker thread (safe inside a running loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def unavailable(reason: str) -> None:
    """Skip outside CI; in CI a missing service is a failure, so green always means the backend was tested."""
    if IN_CI:
        pytest.fail(f'{reason} (CI=true: backends must be reachable)', pytrace=False)
    pytest.skip(reason)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


# --- databases -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope='session')
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test session; each test gets a copy."""
    path = tmp_path_factory.mktemp('template') / 'template.db'
    run_sync(lambda: upgrade_to_head(f'sqlite+aiosqlite:///{path}'))
    return path


def _pg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername='postgresql')
    if database:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture(scope='session')
def postgres_template() -> Iterator[str]:
    """A migrated template database of this test run (name unique per run), dropped at the end."""
    name = f'vigil_test_{os.getpid()}_{uuid.uuid4().hex[:8]}'

    async def create() -> None:
        connection = await asyncpg.connect(_pg_dsn(POSTGRES_URL), timeout=5)
        try:
            # Databases of earlier runs that were killed before their clean-up (their process is gone).
            for row in await connection.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'vigil\\_test\\_%'"):
                pid = row['datname'].split('_')[2]
                if pid.isdigit() and not _alive(int(pid)):
                    await connection.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        await upgrade_to_head(make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False))

    try:
        run_sync(create)
    except (OSError, asyncpg.PostgresError) as error:
        unavailable(f'PostgreSQL at {make_url(POSTGRES_URL).host}:{make_url(POSTGRES_URL).port} unreachable: {error}')
    yield name
    run_sync(lambda: _drop_databases(name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _drop_databases(*names: str) -> None:
    connection = await asyncpg.connect(_pg_dsn(POSTGRES_URL), timeout=5)
    try:
        for name in names:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(params=['sqlite', pytest.param('postgresql', marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty database of this test alone, on each backend."""
    if request.param == 'sqlite':
        target = tmp_path / 'vigil.db'
        shutil.copy(request.getfixturevalue('sqlite_template'), target)
        yield f'sqlite+aiosqlite:///{target}'
        return
    template = request.getfixturevalue('postgres_template')
    name = f'{template}_{uuid.uuid4().hex[:8]}'
    connection = await asyncpg.connect(_pg_dsn(POSTGRES_URL), timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
    finally:
        await connection.close()
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    await _drop_databases(name)


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite database for tests that are about SQLite itself or about one process."""
    target = tmp_path / 'vigil.db'
    shutil.copy(sqlite_template, target)
    return f'sqlite+aiosqlite:///{target}'


# --- Redis ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope='session')
def redis_run_prefix() -> Iterator[str]:
    """A Redis key and channel prefix of this test run; the run's keys are deleted at the end."""
    prefix = f'vigil-test-{os.getpid()}-{uuid.uuid4().hex[:8]}'
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        client.close()
        unavailable(f'Redis at {REDIS_URL} unreachable: {error}')
    yield prefix
    try:
        keys = list(client.scan_iter(match=f'{prefix}*', count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def redis_prefix(redis_run_prefix: str) -> str:
    """A prefix of this test alone, inside the run's prefix, so tests never hear each other's events."""
    return f'{redis_run_prefix}-{uuid.uuid4().hex[:6]}'


# --- the system under test ------------------------------------------------------------------------------------------

@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def vigil(db_url: str, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Vigil]:
    system = build(Settings(database_url=db_url, data_dir=tmp_path), clock=clock)
    yield system
    await system.close()


@pytest.fixture
async def received(vigil: Vigil) -> list[Event]:
    """Every event the bus delivers during the test (call `await vigil.bus.drain()` before looking)."""
    events: list[Event] = []
    vigil.bus.subscribe(events.append, name='test-recorder')
    return events


@dataclass
class Side:
    """One hospital of the test world and the people in it."""

    hospital_id: int
    slug: str
    ward_ids: dict[str, int]
    patient_ids: dict[str, int]
    users: dict[str, UserView] = field(default_factory=dict)

    def actor(self, username: str) -> Actor:
        return Actor.for_user(self.users[username])


@dataclass
class World:
    a: Side
    b: Side


_HASHER = PasswordHasher()


@pytest.fixture(scope='session')
def password_hash() -> str:
    """One argon2id hash of TEST_PASSWORD for the whole run (hashing costs about 0.2 s)."""
    return run_sync(lambda: _HASHER.hash(TEST_PASSWORD))


@pytest.fixture
async def world(vigil: Vigil, password_hash: str, clock: FakeClock) -> World:
    """Hospital A ("alpha": wards North and South) and hospital B ("beta": ward East), patients and staff."""
    sides = []
    async with vigil.db.uow() as uow:
        session = uow.session
        for slug, ward_names in (('alpha', ['North', 'South']), ('beta', ['East'])):
            hospital = Hospital(slug=slug, name=f'{slug.title()} Hospital', event_seq=0, created_at=clock())
            session.add(hospital)
            await session.flush()
            wards = {name: Ward(hospital_id=hospital.id, name=name) for name in ward_names}
            session.add_all(wards.values())
            await session.flush()
            patients = {}
            for ward_name, ward in wards.items():
                for bed in (1, 2):
                    key = f'{ward_name}-{bed}'
                    patients[key] = Patient(hospital_id=hospital.id, ward_id=ward.id, mrn=f'{slug}-{key}',
                                            name=f'Patient {key}', bed=key, spo2_scale=1, admitted_at=clock())
            session.add_all(patients.values())
            staff = {
                'nurse': (Role.NURSE, [ward_names[0]]),
                'nurse2': (Role.NURSE, [ward_names[-1]]),
                'charge': (Role.CHARGE_NURSE, [ward_names[0]]),
                'doctor': (Role.PHYSICIAN, []),
                'admin': (Role.ADMIN, []),
            }
            users = {}
            for name, (role, assigned) in staff.items():
                users[name] = User(hospital_id=hospital.id, username=f'{slug}-{name}', display_name=name.title(),
                                   role=role, password_hash=password_hash, active=True,
                                   password_changed_at=clock(), created_at=clock(),
                                   wards=[wards[w] for w in assigned])
            session.add_all(users.values())
            await session.flush()
            side = Side(hospital.id, slug, {n: w.id for n, w in wards.items()},
                        {k: p.id for k, p in patients.items()})
            side.users = {name: UserView(id=u.id, hospital_id=u.hospital_id, username=u.username,
                                         display_name=u.display_name, role=Role(u.role),
                                         ward_ids=tuple(w.id for w in u.wards)) for name, u in users.items()}
            sides.append(side)
        await uow.commit()
    return World(*sides)


# --- the served app ------------------------------------------------------------------------------------------------

_HASHES: dict[str, str] = {}  # password -> one argon2id hash of it, for the whole run (quiet_demo)


@pytest.fixture
def quiet_demo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """main.py (run by NiceGUI's `user` fixture) serves the demo, without its simulator, from a fresh SQLite file."""
    for name in list(os.environ):
        if name.upper().startswith('VIGIL_'):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env of the repository
    monkeypatch.setenv('VIGIL_DATA_DIR', str(tmp_path))
    monkeypatch.setenv('VIGIL_DEMO', 'true')
    monkeypatch.setenv('VIGIL_DEMO_SIMULATOR', 'false')  # quiet patients: tests post the vitals they need
    # Seeding the demo hashes its one password once per account (five argon2id hashes, about 1 s of CPU) in every test
    # that serves it. As with password_hash above: one real hash per password for the whole run. Every sign-in still
    # verifies against a real argon2id hash; no test here is about two accounts' salts differing.
    real_hash = PasswordHasher.hash

    async def hash_once_per_run(hasher: PasswordHasher, password: str) -> str:
        if password not in _HASHES:
            _HASHES[password] = await real_hash(hasher, password)
        return _HASHES[password]

    monkeypatch.setattr(PasswordHasher, 'hash', hash_once_per_run)


@pytest.fixture(autouse=True)
def history_follows_redirects(monkeypatch: pytest.MonkeyPatch) -> None:
    """NiceGUI's simulated user remembers the address it asked for, a browser the one it ended on after redirects.

    Sign-in goes through a one-use HTTP request (/login/complete?ticket=...) that redirects to the page: a reload must
    load that page again, as a browser's would, not replay the used ticket.
    """
    from nicegui.testing.user import User as SimulatedUser

    opened = SimulatedUser.open

    async def open_like_a_browser(self: SimulatedUser, path: str, *, clear_forward_history: bool = True) -> Any:
        client = await opened(self, path, clear_forward_history=clear_forward_history)
        self.__dict__.setdefault('requested', []).append(path)  # what was asked for, redirects and all
        url = client.request.url
        self.back_history[-1] = url.path + (f'?{url.query}' if url.query else '')
        return client

    monkeypatch.setattr(SimulatedUser, 'open', open_like_a_browser)
