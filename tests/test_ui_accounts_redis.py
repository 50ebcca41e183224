"""Account lifecycle across processes: a deactivation on another process reaches this process's open pages through
the Redis bus at once (the account watch is held back here, so only the signal can do it)."""

import asyncio
from pathlib import Path

import pytest
from nicegui.testing import User

from app.bootstrap import build
from app.config import Settings
from app.events.redis_transport import RedisTransport
from app.schemas import Actor

from .conftest import REDIS_URL
from .test_ui_accounts import DEACTIVATED
from .test_ui_dashboard import SIGN_IN_RETRIES, eventually, running, sign_in

pytestmark = [pytest.mark.usefixtures('quiet_demo', 'on_redis'), pytest.mark.redis]
GUARD_SECONDS = 15


@pytest.fixture
def on_redis(monkeypatch: pytest.MonkeyPatch, quiet_demo: None, redis_prefix: str) -> None:
    """main.py (run by the `user` fixture after this) uses the Redis bus; its account watch waits 60 s."""
    monkeypatch.setenv('VIGIL_REDIS_URL', REDIS_URL)
    monkeypatch.setenv('VIGIL_REDIS_PREFIX', redis_prefix)
    monkeypatch.setenv('VIGIL_STORAGE_SECRET', 'ui-accounts-redis-tests')
    monkeypatch.setenv('VIGIL_WATCHDOG_SECONDS', '60')
    monkeypatch.setenv('NICEGUI_REDIS_URL', REDIS_URL)
    monkeypatch.setenv('NICEGUI_REDIS_KEY_PREFIX', f'{redis_prefix}:nicegui:')


async def connected(transport: object) -> None:
    assert isinstance(transport, RedisTransport)
    async with asyncio.timeout(GUARD_SECONDS):
        while not transport.connected:  # noqa: ASYNC110 (state of the listener task, polled)
            await asyncio.sleep(0.05)


async def test_a_deactivation_on_another_process_closes_the_users_pages_here_at_once(
        user: User, tmp_path: Path, redis_prefix: str) -> None:
    await sign_in(user, 'nurse')
    page = user.client
    vigil, hub, _ = running()
    await connected(vigil.bus._transport)
    other = build(Settings(data_dir=tmp_path, database_url=None, redis_url=REDIS_URL, redis_prefix=redis_prefix))
    try:
        await other.bus.start()
        await connected(other.bus._transport)
        cli = Actor.system('admin page elsewhere', hospital_id=(await other.hospitals.get('general')).id)
        nurse = await other.users.find(cli, 'nurse')

        await other.users.deactivate(cli, nurse.id, reason='Left the trust')

        await user.should_see(marker='login-message', content=DEACTIVATED, retries=SIGN_IN_RETRIES)
        await eventually(lambda: page.is_deleted)
        assert hub.subscription_count == 0
    finally:
        await other.close()
