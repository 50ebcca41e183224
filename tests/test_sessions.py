"""Browser sessions: a new browser id at every sign-in and sign-out, none for requests that never use one."""

import asyncio
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from nicegui import Client, ui
from nicegui import app as nicegui_app
from nicegui.storage import request_contextvar
from nicegui.testing import User

from pages.browser_ids import TICKET_KEY, TICKET_LIFETIME, park_sign_in
from pages.login import UNFINISHED

from .browser.harness import VigilServer
from .test_ui_dashboard import running, sign_in

pytestmark = pytest.mark.usefixtures('quiet_demo')

COOKIE = 'session'  # Starlette's session cookie, which carries NiceGUI's browser id


def another_browser(cookie: str | None) -> httpx.AsyncClient:
    """An HTTP client on the served app that presents the given session cookie (a copy taken from a browser)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(nicegui_app), base_url='http://test',
                             cookies={COOKIE: cookie} if cookie else None)


async def signed_in(cookie: str | None) -> bool:
    """Return whether a request with this cookie reaches a staff page instead of the sign-in page."""
    async with another_browser(cookie) as browser:
        response = await browser.get('/audit', follow_redirects=False)
    return response.status_code == 200


def browser_storages() -> int:
    return len(nicegui_app.storage._users)


async def test_a_cookie_copied_before_the_sign_in_is_not_signed_in_by_it(user: User) -> None:
    await user.open('/login')
    before = user.http_client.cookies[COOKIE]

    await sign_in(user, 'nurse')

    assert user.http_client.cookies[COOKIE] != before
    assert not await signed_in(before)
    assert await signed_in(user.http_client.cookies[COOKIE])


async def test_a_cookie_copied_before_the_log_out_stays_signed_out_after_the_next_sign_in(user: User) -> None:
    await sign_in(user, 'nurse')
    before_logout = user.http_client.cookies[COOKIE]
    assert await signed_in(before_logout)

    user.find(marker='account').click()
    user.find(marker='logout').click()
    await user.should_see(kind=ui.button, content='Log in')
    assert not await signed_in(before_logout)
    await sign_in(user, 'charge')  # the next person at this workstation

    assert not await signed_in(before_logout)
    assert await signed_in(user.http_client.cookies[COOKIE])


async def test_log_out_deletes_the_browser_id_and_its_storage(user: User) -> None:
    await sign_in(user, 'nurse')
    storages = browser_storages()

    response = await user.http_client.get('/logout', follow_redirects=False)

    assert response.status_code == 303 and response.headers['location'] == '/login'
    assert COOKIE not in user.http_client.cookies  # Set-Cookie expired it
    assert not await signed_in(response.request.headers['cookie'].removeprefix(f'{COOKIE}='))
    assert all('user_id' not in storage for storage in nicegui_app.storage._users.values())
    assert browser_storages() <= storages


async def test_the_sign_in_ticket_works_once(user: User) -> None:
    await user.open('/login')
    before = user.http_client.cookies[COOKIE]
    await sign_in(user, 'nurse')
    completion = next(path for path in user.requested if path.startswith('/login/complete?'))  # type: ignore[attr-defined]

    async with another_browser(before) as copy:  # somebody replays the address with the pre-sign-in cookie
        response = await copy.get(completion, follow_redirects=False)
        assert response.headers['location'] == '/login?unfinished=1'
        assert not await signed_in(copy.cookies.get(COOKIE, before))
    response = await user.http_client.get(completion, follow_redirects=False)  # or the browser itself, again
    assert response.headers['location'] == '/login?unfinished=1'


async def parked(user: User, age: timedelta, target: str = '/audit') -> str:
    """Open the sign-in page and park a nurse's sign-in made `age` ago in its browser; return the completion path."""
    client = await user.open('/login')
    vigil, _, _ = running()
    nurse = await vigil.users.authenticate('nurse', 'demo', address='127.0.0.1')
    token = request_contextvar.set(client.request)  # as in the sign-in form's click handler
    try:
        return park_sign_in(nurse, vigil.clock() - age, target)
    finally:
        request_contextvar.reset(token)


async def test_an_expired_ticket_leads_back_to_the_sign_in_with_a_message(user: User) -> None:
    completion = await parked(user, TICKET_LIFETIME + timedelta(seconds=1))

    response = await user.http_client.get(completion, follow_redirects=False)

    assert response.status_code == 303
    assert response.headers['location'] == '/login?unfinished=1&next=%2Faudit'
    assert not await signed_in(user.http_client.cookies[COOKIE])
    assert all(TICKET_KEY not in storage for storage in nicegui_app.storage._users.values())  # used up
    await user.open(response.headers['location'])
    await user.should_see(UNFINISHED)


@pytest.mark.parametrize('query', ['', '?ticket=', '?ticket=guessed', '?ticket=%00', '?ticket=' + 'x' * 5000])
async def test_a_wrong_or_missing_ticket_signs_nobody_in_and_leaves_the_real_one_usable(user: User,
                                                                                       query: str) -> None:
    completion = await parked(user, timedelta(seconds=1))

    response = await user.http_client.get(f'/login/complete{query}', follow_redirects=False)

    assert response.status_code == 303 and response.headers['location'] == '/login?unfinished=1'
    assert not await signed_in(user.http_client.cookies[COOKIE])
    response = await user.http_client.get(completion, follow_redirects=False)
    assert response.headers['location'] == '/audit'
    assert await signed_in(user.http_client.cookies[COOKIE])


async def test_the_completion_without_a_cookie_signs_nobody_in(user: User) -> None:
    completion = await parked(user, timedelta(seconds=1))

    async with another_browser(None) as stranger:
        response = await stranger.get(completion, follow_redirects=False)
        assert response.headers['location'] == '/login?unfinished=1&next=%2Faudit'
        assert COOKIE not in stranger.cookies


@pytest.mark.parametrize(('path', 'status'), [
    ('/healthz', 200), ('/readyz', 200), ('/metrics', 200), ('/openapi.json', 200), ('/manifest.webmanifest', 200),
    ('/api/v1/patients', 401), ('/api/no-such-route', 404), ('/pwa/no-such-file', 404), ('/kiosk', 200),
    ('/', 307), ('/audit', 307), ('/no-such-page', 307), ('/logout', 303), ('/login/complete', 303),
])
async def test_a_request_without_a_cookie_leaves_no_browser_id_storage_or_page_behind(user: User, path: str,
                                                                                      status: int) -> None:
    storages, clients = browser_storages(), len(Client.instances)

    async with another_browser(None) as probe:
        for _ in range(20):
            response = await probe.get(path, follow_redirects=False)
            assert response.status_code == status
            assert 'set-cookie' not in response.headers
            assert 'x-nicegui-content' not in response.headers  # no page, no UI client

    assert browser_storages() == storages
    assert len(Client.instances) == clients


async def test_the_sign_in_page_and_the_wall_display_still_get_a_browser_id(user: User) -> None:
    for path in ('/login', '/kiosk/display'):
        async with another_browser(None) as browser:
            response = await browser.get(path)
            assert response.status_code == 200
            assert COOKIE in browser.cookies, path


async def test_an_unknown_address_of_a_signed_in_browser_still_gets_the_page_not_found(user: User) -> None:
    await sign_in(user, 'nurse')

    response = await user.http_client.get('/no-such-page')

    assert response.status_code == 404
    assert response.headers.get('x-nicegui-content') == 'page'


# --- memory of a real server under a flood of cookie-less requests -------------------------------------------------

FLOOD_ROUNDS = 3
FLOOD_REQUESTS = 1_000  # per round: the test takes about 30 s on a busy 2-core machine (measured by hand: 3 x 15,000)
# Generous: a round of 15,000 used to add 10-16 MB; now three of them add 4 MB in all (allocator noise). The
# Set-Cookie check is the exact one: no browser id, so no per-browser storage.
RSS_GROWTH_LIMIT_MB = 12


def rss_mb(pid: int) -> float:
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    raise AssertionError('no VmRSS line')


async def flood(url: str, path: str, count: int) -> set[str]:
    """Send `count` cookie-less GETs, 20 at a time; return the Set-Cookie headers seen."""
    cookies: set[str] = set()
    gate = asyncio.Semaphore(20)
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        async def one() -> None:
            async with gate:
                response = await client.get(path)
                assert response.status_code == 200
                cookies.update(response.headers.get_list('set-cookie'))
                client.cookies.clear()

        await asyncio.gather(*(one() for _ in range(count)))
    return cookies


@pytest.mark.heavy
@pytest.mark.skipif(not Path('/proc/self/status').exists(), reason='reads RSS from /proc')
async def test_a_flood_of_health_checks_leaves_the_memory_of_a_real_server_where_it_was(tmp_path: Path) -> None:
    server = VigilServer(tmp_path / 'vigil')
    server.start()
    try:
        await flood(server.url, '/healthz', 200)  # warm up: first-request allocations are not growth
        start = rss_mb(server.pid)
        for _ in range(FLOOD_ROUNDS):
            assert await flood(server.url, '/healthz', FLOOD_REQUESTS) == set()
        grown = rss_mb(server.pid) - start
    finally:
        server.stop()
    assert grown < RSS_GROWTH_LIMIT_MB, f'RSS grew by {grown:.1f} MB from {start:.0f} MB'
