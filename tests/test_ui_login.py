"""Signing in and out: what needs a session, where sign-in leads, logging out here or everywhere, and expiry."""

from datetime import timedelta

import pytest
from nicegui import ui
from nicegui.testing import User

from app.domain import AlertStatus, Priority
from app.errors import AuthenticationFailed
from app.schemas import Actor
from pages.login import safe_next

from .test_ui_dashboard import BUTTONS, SIGN_IN_RETRIES, clerk, press, raise_for, running, should_see_row, sign_in

pytestmark = pytest.mark.usefixtures('quiet_demo')


async def test_every_staff_page_needs_a_session(user: User) -> None:
    for path, target in (('/', '/login'), ('/audit', '/login?next=/audit'), ('/patients/1', '/login?next=/patients/1')):
        response = await user.http_client.get(path, follow_redirects=False)
        assert response.status_code in (302, 303, 307), path
        assert response.headers['location'] == target

    await user.open('/')
    await user.should_see(kind=ui.button, content='Log in')
    await user.should_not_see(marker='alert-count')


async def signs_in_to_the_dashboard(user: User, address: str) -> None:
    """Sign in as the doctor from this sign-in address and check that it led to the dashboard."""
    await user.open(address)
    user.find(kind=ui.input, content='Username').type('doctor')
    user.find(kind=ui.input, content='Password').type('demo')
    user.find(kind=ui.button, content='Log in').click()

    await user.should_see(marker='alert-count', retries=SIGN_IN_RETRIES)
    assert user.client.request.url.path == '/'  # where the redirects of the sign-in ended


async def test_sign_in_continues_to_a_local_page_but_never_to_another_site(user: User) -> None:
    await signs_in_to_the_dashboard(user, '/login?next=https://evil.example/phish')


@pytest.mark.parametrize('target', [
    'https://evil.example/phish', '//evil.example/login', '/\\evil.example/login', '/\\/evil.example',
    '/\t/evil.example', '/\n/evil.example', '\\\\evil.example', 'javascript:alert(1)', 'evil.example',
    '/\x7f', '', None,
])
def test_sign_in_never_continues_off_site_however_the_address_is_spelled(target: str | None) -> None:
    assert safe_next(target) == '/'


@pytest.mark.parametrize('target', ['/audit', '/patients/12', '/audit?ward=3&page=2', '/patients/12#vitals',
                                    '/%5Cevil.example'])
def test_sign_in_continues_to_a_same_origin_path(target: str) -> None:
    assert safe_next(target) == target


async def test_a_backslash_address_leads_to_the_dashboard_after_a_real_sign_in(user: User) -> None:
    # Reproduced: /%5Cevil.example/login -> /login?next=/\evil.example/login, which browsers read as //evil.example.
    response = await user.http_client.get('/%5Cevil.example/login', follow_redirects=False)
    assert response.headers['location'].startswith('/login?next=/')
    await signs_in_to_the_dashboard(user, '/login?next=/%5Cevil.example/login')


async def try_sign_in(user: User, username: str, password: str) -> None:
    await user.open('/login')
    user.find(kind=ui.input, content='Username').type(username)
    user.find(kind=ui.input, content='Password').type(password)
    user.find(kind=ui.button, content='Log in').click()


async def test_repeated_wrong_passwords_make_that_client_wait_and_never_lock_the_account(
        user: User, create_user: type[User]) -> None:
    vigil, _, _ = running()
    await vigil.users.authenticate('charge', 'demo', address='192.0.2.20')  # the charge nurse's usual workstation
    user.http_client.headers['X-Forwarded-For'] = '192.0.2.10'  # through the sample proxy on 127.0.0.1 (trusted)
    for _ in range(5):
        with pytest.raises(AuthenticationFailed):
            await vigil.users.authenticate('charge', 'wrong guess', address='192.0.2.10')

    await try_sign_in(user, 'charge', 'one more wrong guess')

    await user.should_see('Unknown username or wrong password, or too many failed sign-ins: wait 1 second before the '
                          'next try.', retries=SIGN_IN_RETRIES)
    await user.should_not_see(marker='alert-count')
    throttles = await vigil.sign_in_throttle.current(Actor.system('test'))
    assert {(t.username, t.address, t.failures) for t in throttles} >= {('charge', '192.0.2.10', 6.0)}
    workstation = create_user()  # type: ignore[operator]
    workstation.http_client.headers['X-Forwarded-For'] = '192.0.2.20'
    await sign_in(workstation, 'charge')  # the account itself is not locked


async def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(user: User) -> None:
    await try_sign_in(user, 'no-such-person', 'a guess')
    await user.should_see('Unknown username or wrong password.', retries=SIGN_IN_RETRIES)
    await try_sign_in(user, 'charge', 'a guess')
    await user.should_see('Unknown username or wrong password.', retries=SIGN_IN_RETRIES)
    await try_sign_in(user, '   ', 'a guess')
    await user.should_see('Enter your username and password.')


@pytest.fixture
def no_trusted_proxies(quiet_demo: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('VIGIL_TRUSTED_PROXIES', '')


async def test_a_forwarded_address_from_a_peer_not_trusted_is_ignored(no_trusted_proxies: None, user: User) -> None:
    user.http_client.headers['X-Forwarded-For'] = '192.0.2.10'  # anyone can send this header

    await try_sign_in(user, 'charge', 'wrong guess')

    await user.should_see('Unknown username or wrong password.', retries=SIGN_IN_RETRIES)
    vigil, _, _ = running()
    throttles = await vigil.sign_in_throttle.current(Actor.system('test'))
    assert {t.address for t in throttles} == {None, '127.0.0.1'}  # the socket's peer, never the header


async def test_log_out_ends_the_session_of_this_browser(user: User) -> None:
    await sign_in(user, 'nurse')

    user.find(marker='account').click()
    user.find(marker='logout').click()

    await user.should_see(kind=ui.button, content='Log in')
    await user.open('/')
    await user.should_see(kind=ui.button, content='Log in')
    await user.should_not_see(marker='alert-count')


async def test_log_out_on_all_devices_ends_every_session_of_the_user(user: User, create_user: type[User]) -> None:
    tablet, colleague = create_user(), create_user()  # type: ignore[operator]
    await sign_in(tablet, 'nurse')
    await sign_in(colleague, 'charge')
    await sign_in(user, 'nurse')

    user.find(marker='account').click()
    user.find(marker='logout-everywhere').click()
    await user.should_see(kind=ui.button, content='Log in')

    await tablet.open('/')
    await tablet.should_see(kind=ui.button, content='Log in')
    await colleague.open('/')
    await colleague.should_see(marker='alert-count')  # another person's session is untouched


async def test_an_open_page_leaves_when_the_user_logs_out_elsewhere(user: User) -> None:
    await sign_in(user, 'nurse')
    vigil, hub, _ = running()
    account = await vigil.users.authenticate('nurse', 'demo', address='127.0.0.1')

    hub.end_sessions(account.hospital_id, account.id + 1000)  # somebody else: nothing happens here
    await user.should_see(marker='alert-count')
    hub.end_sessions(account.hospital_id, account.id)

    await user.should_see(kind=ui.button, content='Log in')


async def test_an_action_after_the_sign_in_ended_elsewhere_is_refused(user: User) -> None:
    await sign_in(user, 'nurse')
    alert = await raise_for('AMU-02', 'Needs a hand', Priority.MEDIUM)
    await should_see_row(user, alert.id, BUTTONS['acknowledge'])
    vigil, _, _ = running()
    account = await vigil.users.authenticate('nurse', 'demo', address='127.0.0.1')
    await vigil.users.end_all_sessions(Actor.for_user(account))  # in another process: this page got no word

    press(user, 'acknowledge', alert.id)

    await should_see_row(user, alert.id, 'Not acknowledged: Your sign-in has ended.')
    assert (await vigil.alerts.get(await clerk(), alert.id)).status is AlertStatus.ACTIVE


async def test_a_session_expires_after_its_lifetime(user: User) -> None:
    await sign_in(user, 'nurse')
    vigil, hub, _ = running()
    real_clock = vigil.clock
    vigil.clock = lambda: real_clock() + timedelta(hours=vigil.settings.session_hours, minutes=1)

    hub.tick()  # the shared slow clock: an open page notices its sign-in has expired

    await user.should_see(kind=ui.button, content='Log in')
    await user.open('/')
    await user.should_see(kind=ui.button, content='Log in')
    await user.should_not_see(marker='alert-count')
