"""The connection analytics page with Redis: every process's sessions of the hospital, and never another hospital's."""

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from nicegui import app as nicegui_app
from nicegui.testing import User

from app.session_directory import STALE_SECONDS, SessionDirectory, SessionRecord
from components.connections import share_snapshot

from .conftest import REDIS_URL
from .redis_proxy import RedisProxy
from .test_ui_connections import SIGN_IN_RETRIES, content, hospital_id, sign_in

pytestmark = [pytest.mark.usefixtures('quiet_demo', 'on_redis'), pytest.mark.redis]
OTHER = 'other-host:8081'


@pytest.fixture
def proxy() -> Iterator[RedisProxy]:
    relay = RedisProxy(REDIS_URL).start()
    yield relay
    relay.stop()


@pytest.fixture
def on_redis(monkeypatch: pytest.MonkeyPatch, quiet_demo: None, redis_prefix: str, proxy: RedisProxy) -> None:
    """main.py (run by the `user` fixture after this) uses Redis (through the relay) for events and sessions."""
    monkeypatch.setenv('VIGIL_REDIS_URL', proxy.url)
    monkeypatch.setenv('VIGIL_REDIS_PREFIX', redis_prefix)
    monkeypatch.setenv('VIGIL_STORAGE_SECRET', 'ui-connections-tests')
    monkeypatch.setenv('NICEGUI_REDIS_URL', REDIS_URL)
    monkeypatch.setenv('NICEGUI_REDIS_KEY_PREFIX', f'{redis_prefix}:nicegui:')


def record(name: str, role: str, page: str, *, client_id: str, user_id: int | None = 9001,
           process: str = OTHER) -> SessionRecord:
    now = datetime.now(UTC)
    return SessionRecord(process=process, client_id=client_id, user_id=user_id, name=name, role=role, wards=(),
                         page=page, since=now - timedelta(minutes=5), last_activity=now - timedelta(minutes=1))


async def test_an_admin_sees_the_sessions_of_every_process_of_the_hospital_only(
        user: User, redis_prefix: str) -> None:
    general, riverside = await hospital_id('general'), await hospital_id('riverside')
    other = SessionDirectory(REDIS_URL, prefix=redis_prefix, process=OTHER)
    gone = SessionDirectory(REDIS_URL, prefix=redis_prefix, process='gone-host:8082',
                            clock=lambda: datetime.now(UTC) - timedelta(seconds=STALE_SECONDS + 5))
    try:
        await other.share({general: [record('Night Nurse', 'Nurse', 'dashboard', client_id='a'),
                                     record('Ward B display', 'Wall display', 'kiosk', client_id='b', user_id=None)],
                           riverside: [record('Riverside Person', 'Nurse', 'dashboard', client_id='c')]})
        await gone.share({general: [record('Long Gone', 'Physician', 'audit', client_id='d')]})

        await sign_in(user, 'admin', '/admin/connections')

        await user.should_see(marker='connections-total', content='3 open sessions · 2 people · 1 wall display',
                              retries=SIGN_IN_RETRIES)
        table = content(user, 'connections-sessions')
        assert 'Night Nurse' in table and 'Ward B display' in table and OTHER in table
        assert 'Riverside Person' not in table  # another hospital's session
        assert 'Long Gone' not in table  # a process that stopped reporting
        assert f'<td>{OTHER}</td><td class="vigil-count">2</td>' in content(user, 'connections-servers')

        # This process shares its own sessions in turn: the other process sees the admin's page.
        directory: SessionDirectory = nicegui_app.state.sessions
        await directory.share(share_snapshot(nicegui_app.state.hub, directory.process))
        seen = await other.others(general)
        assert [(s.name, s.page) for s in seen[directory.process]] == [('Alex Morgan', 'connections')]
        assert directory.process not in await other.others(riverside)
    finally:
        await other.close()
        await gone.close()


async def test_without_redis_the_page_says_it_shows_this_process_only_and_recovers(
        user: User, proxy: RedisProxy, caplog: pytest.LogCaptureFixture) -> None:
    await sign_in(user, 'admin', '/admin/connections')
    await user.should_see(marker='connections-scope', content='every Vigil server process', retries=SIGN_IN_RETRIES)

    proxy.cut()
    user.find(marker='connections-refresh').click()

    await user.should_see(marker='connections-scope', content='Only this server process', retries=SIGN_IN_RETRIES)
    await user.should_see(marker='connections-total', content='1 open session')
    proxy.restore()
    user.find(marker='connections-refresh').click()
    await user.should_see(marker='connections-scope', content='every Vigil server process', retries=SIGN_IN_RETRIES)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert all('event bus' in e for e in errors), errors  # the bus's own outage line; the page logs no error
    caplog.clear()  # NiceGUI's user fixture fails a test on any ERROR left in the log
