"""The served app through NiceGUI's simulated user: sign-in page, redirect and the health check."""


import pytest
from nicegui import Client, ui
from nicegui import app as nicegui_app
from nicegui.testing import User
from nicegui.version import __version__ as nicegui_version
from starlette.middleware.base import BaseHTTPMiddleware

INVALID_CREDENTIALS = 'Unknown username or wrong password.'
# NOTE: every sign-in spends ~0.2 s on argon2 in a thread; should_see polls every 0.1 s, so give it time.
SIGN_IN_RETRIES = 50


pytestmark = pytest.mark.usefixtures('quiet_demo')


async def sign_in(user: User, username: str, password: str) -> None:
    await user.open('/login')
    user.find(kind=ui.input, content='Username').type(username)
    user.find(kind=ui.input, content='Password').type(password)
    user.find(kind=ui.button, content='Log in').click()


async def test_the_login_page_asks_for_username_and_password(user: User) -> None:
    await user.open('/login')

    await user.should_see(kind=ui.input, content='Username')
    await user.should_see(kind=ui.input, content='Password')
    await user.should_see(kind=ui.button, content='Log in')


async def test_the_start_page_sends_a_visitor_to_the_login_page(user: User) -> None:
    response = await user.http_client.get('/', follow_redirects=False)
    assert response.status_code in (302, 303, 307)
    assert response.headers['location'] == '/login'

    await user.open('/')
    await user.should_see(kind=ui.button, content='Log in')


async def test_good_credentials_lead_to_the_dashboard(user: User) -> None:
    await sign_in(user, 'nurse', 'demo')

    await user.should_see(marker='alert-count', retries=SIGN_IN_RETRIES)
    await user.should_see('Sam Patel')
    await user.should_see('Vigil General Hospital')
    await user.should_not_see(INVALID_CREDENTIALS)


async def test_enter_in_the_password_field_signs_in_too(user: User) -> None:
    await user.open('/login')
    user.find(kind=ui.input, content='Username').type('rnurse')
    user.find(kind=ui.input, content='Password').type('demo').trigger('keydown.enter')

    await user.should_see(marker='alert-count', retries=SIGN_IN_RETRIES)
    await user.should_see('Kit Fernandes')


async def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(user: User) -> None:
    await sign_in(user, 'nurse', 'not the password')

    await user.should_see(INVALID_CREDENTIALS, retries=SIGN_IN_RETRIES)
    await user.should_not_see(marker='alert-count')
    assert user.find(kind=ui.input, content='Password').elements.pop().value == ''


async def test_an_unknown_username_gets_the_same_answer_as_a_wrong_password(user: User) -> None:
    await sign_in(user, 'nobody', 'demo')

    await user.should_see(INVALID_CREDENTIALS, retries=SIGN_IN_RETRIES)
    await user.should_not_see(marker='alert-count')


async def test_the_health_check_answers_ok_without_creating_a_ui_client(user: User) -> None:
    clients_before = set(Client.instances)

    response = await user.http_client.get('/healthz')

    assert response.status_code == 200
    assert response.json() == {'status': 'ok'}
    assert set(Client.instances) == clients_before
    # The comparison can see a new client: opening a page does create one.
    await user.open('/login')
    assert set(Client.instances) != clients_before


async def test_a_redirect_behind_a_prefixing_proxy_keeps_the_prefix(user: User) -> None:
    response = await user.http_client.get('/', headers={'X-Forwarded-Prefix': '/vigil'}, follow_redirects=False)

    assert response.headers['location'] == '/vigil/login'


async def test_nicegui_versioned_files_may_be_cached_and_the_api_is_not_told_so(user: User) -> None:
    response = await user.http_client.get(f'/_nicegui/{nicegui_version}/static/nicegui.css')
    assert response.status_code == 200
    assert response.headers['cache-control'] == nicegui_app.config.cache_control_directives

    assert 'cache-control' not in (await user.http_client.get('/healthz')).headers


async def test_api_requests_pass_through_no_middleware_that_runs_the_app_in_a_task_of_its_own(user: User) -> None:
    # Starlette's BaseHTTPMiddleware costs every request a task and memory streams (a quarter of a millisecond of
    # server CPU for four of them): a device's POST, a health check must not pay it. NOTE: NiceGUI adds two of them
    # in ui.run by module-level name (pages/plain_middlewares.py): this fails if an upgrade goes around that.
    await user.http_client.get('/healthz')

    assert [m.cls.__name__ for m in nicegui_app.user_middleware if issubclass(m.cls, BaseHTTPMiddleware)] == []
