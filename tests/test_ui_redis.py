"""The served app on the Redis bus, through NiceGUI's simulated users: while Redis is away the process keeps its own
pages live; once Redis is back every page reloads from the database what another process wrote meanwhile.
"""

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from nicegui import app as nicegui_app
from nicegui.testing import User

from app.bootstrap import build
from app.config import Settings
from app.domain import Priority
from app.events.redis_transport import RedisTransport
from app.schemas import Actor, NewAlert

from .conftest import REDIS_URL
from .redis_proxy import RedisProxy
from .test_ui_dashboard import clerk, patient, raise_for, running, should_not_see_row, should_see_row, sign_in

pytestmark = [pytest.mark.usefixtures('quiet_demo', 'on_redis'), pytest.mark.redis]
GUARD_SECONDS = 15


@pytest.fixture
def proxy() -> Iterator[RedisProxy]:
    relay = RedisProxy(REDIS_URL).start()
    yield relay
    relay.stop()


@pytest.fixture
def on_redis(monkeypatch: pytest.MonkeyPatch, quiet_demo: None, proxy: RedisProxy, redis_prefix: str) -> None:
    """main.py (run by the `user` fixture after this) uses the Redis bus, reached through the relay."""
    monkeypatch.setenv('VIGIL_REDIS_URL', proxy.url)
    monkeypatch.setenv('VIGIL_REDIS_PREFIX', redis_prefix)
    monkeypatch.setenv('VIGIL_STORAGE_SECRET', 'ui-redis-tests')
    # NiceGUI's own user storage goes to Redis directly: the relay stands for the event bus's network only.
    monkeypatch.setenv('NICEGUI_REDIS_URL', REDIS_URL)
    monkeypatch.setenv('NICEGUI_REDIS_KEY_PREFIX', f'{redis_prefix}:nicegui:')


def transport() -> RedisTransport:
    vigil, _, _ = running()
    carrier = vigil.bus._transport  # the test checks which transport main.py chose
    assert isinstance(carrier, RedisTransport)
    return carrier


async def until(condition: object) -> None:
    async with asyncio.timeout(GUARD_SECONDS):
        while not condition():  # type: ignore[operator]  # noqa: ASYNC110 (state of the listener task, polled)
            await asyncio.sleep(0.05)


async def test_pages_stay_live_during_a_redis_outage_and_resync_after_it(
        user: User, create_user: type[User], proxy: RedisProxy, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    charge = create_user()  # type: ignore[operator]
    await sign_in(user, 'nurse')
    await sign_in(charge, 'charge')
    await until(lambda: transport().connected)
    before = await raise_for('AMU-05', 'Before the outage')
    await should_see_row(user, before.id)

    proxy.cut()
    await until(lambda: not transport().connected)
    vigil, _, _ = running()
    assert 'unreachable' in (await vigil.bus.problem() or '')
    local = await raise_for('AMU-06', 'Raised here while Redis is away', Priority.HIGH)
    await should_see_row(user, local.id)  # this process's own pages stay live
    await should_see_row(charge, local.id)

    # Meanwhile another process (its own bus, same database) raises an alert that can never reach this one.
    other = build(Settings(data_dir=tmp_path, database_url=None, redis_url=None))
    try:
        missed = await other.alerts.raise_alert(
            Actor.system('other process', hospital_id=(await clerk()).hospital_id),
            NewAlert(priority=Priority.CRITICAL, message='Raised on another process',
                     patient_id=(await patient('AMU-07')).id))
    finally:
        await other.close()
    await should_not_see_row(user, missed.id)

    proxy.restore()
    await should_see_row(user, missed.id, retries=100)
    await should_see_row(charge, missed.id, retries=100)
    assert await vigil.bus.problem() is None
    assert nicegui_app.state.vigil is vigil
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and 'unreachable' in errors[0], errors  # one clear line for the whole outage
    caplog.clear()  # that line was expected; NiceGUI's user fixture fails a test on any ERROR left in the log
