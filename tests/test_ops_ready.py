"""/readyz: 200 only while the database (and Redis, when configured) answer and the process is not stopping; 503
with the reason otherwise, never with a password in it."""

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from app.api.health import health_router
from app.bootstrap import Vigil, build
from app.config import Settings

from .browser.harness import free_port
from .conftest import POSTGRES_URL, REDIS_URL, _pg_dsn
from .redis_proxy import RedisProxy
from .test_events import GUARD_SECONDS


async def readyz(vigil: Vigil, stopping: bool = False) -> httpx.Response:
    app = FastAPI()
    app.include_router(health_router(vigil, lambda: stopping))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url='http://vigil') as client:
        return await client.get('/readyz')


@pytest.fixture
async def system(tmp_path: Path) -> AsyncIterator[Callable[..., Vigil]]:
    """Build Vigils from settings and close them after the test."""
    built: list[Vigil] = []

    def make(**settings: Any) -> Vigil:
        vigil = build(Settings(data_dir=tmp_path, **settings))
        built.append(vigil)
        return vigil

    yield make
    for vigil in built:
        await vigil.close()


async def test_ready_while_the_database_answers(system: Callable[..., Vigil], db_url: str) -> None:
    response = await readyz(system(database_url=db_url))
    assert response.status_code == 200
    assert response.json() == {'status': 'ready', 'checks': {'database': 'ok', 'redis': 'not configured'}}


async def test_not_ready_when_the_database_is_unreachable_and_the_password_stays_hidden(
        system: Callable[..., Vigil]) -> None:
    closed = free_port()  # nothing listens there
    response = await readyz(system(database_url=f'postgresql+asyncpg://vigil:s3cret@127.0.0.1:{closed}/vigil'))
    assert response.status_code == 503
    body = response.json()
    assert body['status'] == 'not ready'
    assert body['checks']['database'].startswith('postgresql 127.0.0.1/vigil: ')
    assert 's3cret' not in response.text


async def test_a_database_that_never_answers_makes_readyz_say_so_and_metrics_still_answer(
        system: Callable[..., Vigil]) -> None:
    # A listening socket nobody reads from: the TCP connection opens, the driver's greeting gets no reply (a hung
    # server, or a firewall that swallows packets). The driver alone would wait 60 s.
    with socket.create_server(('127.0.0.1', 0)) as silent:
        vigil = system(database_url=f'postgresql+asyncpg://vigil:s3cret@127.0.0.1:{silent.getsockname()[1]}/vigil')
        app = FastAPI()
        app.include_router(health_router(vigil))
        async with (httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url='http://vigil') as client,
                    asyncio.timeout(GUARD_SECONDS)):
            ready = await client.get('/readyz')
            metrics = await client.get('/metrics')
    assert ready.status_code == 503
    assert ready.json()['checks']['database'] == 'postgresql 127.0.0.1/vigil: no answer within 2 s'
    assert metrics.status_code == 200
    names = {family.name for family in text_string_to_metric_families(metrics.text)}
    assert {'vigil_http_request_duration_seconds', 'vigil_events_published', 'vigil_alerts'} <= names


# A database server can go away under a running process; a SQLite file cannot in the same way.
@pytest.mark.postgres
@pytest.mark.parametrize('db_url', ['postgresql'], indirect=True)
async def test_not_ready_once_the_database_goes_away(system: Callable[..., Vigil], db_url: str) -> None:
    vigil = system(database_url=db_url)
    assert (await readyz(vigil)).status_code == 200

    admin = await asyncpg.connect(_pg_dsn(POSTGRES_URL), timeout=5)
    try:
        await admin.execute(f'DROP DATABASE "{make_url(db_url).database}" WITH (FORCE)')
    finally:
        await admin.close()

    response = await readyz(vigil)
    assert response.status_code == 503
    assert 'does not exist' in response.json()['checks']['database'] or 'terminat' in response.text


async def test_not_ready_while_stopping(system: Callable[..., Vigil], db_url: str) -> None:
    response = await readyz(system(database_url=db_url), stopping=True)
    assert response.status_code == 503
    assert response.json()['checks']['process'].startswith('stopping')


@pytest.mark.redis
async def test_not_ready_while_the_configured_redis_is_away(
        system: Callable[..., Vigil], db_url: str, redis_prefix: str) -> None:
    proxy = RedisProxy(REDIS_URL).start()
    try:
        vigil = system(database_url=db_url, redis_url=proxy.url, redis_prefix=redis_prefix)
        await vigil.bus.start()
        async with asyncio.timeout(GUARD_SECONDS):
            while (response := await readyz(vigil)).status_code != 200:  # noqa: ASYNC110 (the listener subscribes)
                await asyncio.sleep(0.05)
        assert response.json()['checks'] == {'database': 'ok', 'redis': 'ok'}

        proxy.cut()
        response = await readyz(vigil)
        assert response.status_code == 503
        assert response.json()['checks']['database'] == 'ok'
        assert response.json()['checks']['redis'].startswith(f'Redis at 127.0.0.1:{proxy.port}/0 unreachable')

        proxy.restore()
        async with asyncio.timeout(GUARD_SECONDS):
            while (await readyz(vigil)).status_code != 200:  # noqa: ASYNC110 (the listener reconnects)
                await asyncio.sleep(0.05)
    finally:
        proxy.stop()
