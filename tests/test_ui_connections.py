"""The connection analytics page (/admin/connections) through NiceGUI's simulated user."""

import re

import pytest
from nicegui import Client, ui
from nicegui import app as nicegui_app
from nicegui.testing import User

from app.domain import TokenKind
from components.live import LiveHub

SIGN_IN_RETRIES = 50

pytestmark = pytest.mark.usefixtures('quiet_demo')


@pytest.fixture(autouse=True)
def browser_zone(quiet_demo: None, user: User) -> None:
    """The simulated browser answers the pages' question for its time zone (after the environment is set)."""
    user.javascript_rules[re.compile('.*resolvedOptions')] = lambda _: 'Europe/Berlin'


def hub() -> LiveHub:
    live: LiveHub = nicegui_app.state.hub
    return live


async def hospital_id(slug: str) -> int:
    return (await nicegui_app.state.vigil.hospitals.get(slug)).id


async def sign_in(user: User, username: str, target: str) -> None:
    """Sign in through the login page, which then opens target."""
    await user.open(f'/login?next={target}')
    user.find(kind=ui.input, content='Username').type(username)
    user.find(kind=ui.input, content='Password').type('demo')
    user.find(kind=ui.button, content='Log in').click()


def content(user: User, marker: str) -> str:
    with user:
        return str(user.find(marker=marker).elements.pop().content)  # type: ignore[attr-defined]


def count_row(label: str, n: int) -> str:
    return f'<td>{label}</td><td class="vigil-count">{n}</td>'


async def test_an_admin_sees_the_sessions_of_the_hospital_by_role_and_page_live(
        user: User, create_user: type[User]) -> None:
    nurse, doctor, wall = create_user(), create_user(), create_user()  # type: ignore[operator]
    await sign_in(user, 'admin', '/admin/connections')
    await user.should_see(marker='connections-total', retries=SIGN_IN_RETRIES)
    await user.should_see('this server process')

    await sign_in(nurse, 'nurse', '/')
    await nurse.should_see(marker='alert-count', retries=SIGN_IN_RETRIES)
    await sign_in(doctor, 'doctor', '/audit')
    await doctor.should_see('Audit trail', retries=SIGN_IN_RETRIES)
    secret = (await nicegui_app.state.vigil.tokens.create(hospital_slug='general', kind=TokenKind.KIOSK,
                                                          name='AMU corridor')).secret
    assert (await wall.http_client.post('/kiosk/session', json={'token': secret})).status_code == 204
    await wall.open('/kiosk/display')
    hub().flush_presence()  # what the hub's coalescer does every second

    await user.should_see(marker='connections-total', content='4 open sessions · 3 people · 1 wall display')
    roles, pages = content(user, 'connections-roles'), content(user, 'connections-pages')
    for label in ('Administrator', 'Nurse', 'Physician', 'Wall display'):
        assert count_row(label, 1) in roles
    for label in ('Connections', 'Dashboard', 'Audit trail', 'Wall display'):
        assert count_row(label, 1) in pages
    table = content(user, 'connections-sessions')
    assert 'Sam Patel' in table and 'AMU corridor' in table and '(this page)' in table


async def test_a_nurse_gets_no_connection_analytics(user: User) -> None:
    await sign_in(user, 'nurse', '/admin/connections')

    await user.should_see('Administrators only', retries=SIGN_IN_RETRIES)
    await user.should_not_see(marker='connections-sessions')


async def test_the_other_hospitals_sessions_are_not_shown(user: User, create_user: type[User]) -> None:
    other = create_user()  # type: ignore[operator]
    await sign_in(other, 'rnurse', '/')
    await other.should_see('Kit Fernandes', retries=SIGN_IN_RETRIES)
    riverside = await hospital_id('riverside')
    assert [s.name for s in hub().sessions(riverside)] == ['Kit Fernandes']  # the session exists, in its hospital

    await sign_in(user, 'admin', '/admin/connections')
    await user.should_see(marker='connections-total', content='1 open session ·', retries=SIGN_IN_RETRIES)

    assert 'Kit Fernandes' not in content(user, 'connections-sessions')
    assert 'Nurse' not in content(user, 'connections-roles')


async def test_last_activity_moves_when_the_browser_sends_an_event(user: User, create_user: type[User]) -> None:
    nurse = create_user()  # type: ignore[operator]
    await sign_in(nurse, 'nurse', '/')
    await nurse.should_see(marker='alert-count', retries=SIGN_IN_RETRIES)
    await sign_in(user, 'admin', '/admin/connections')
    await user.should_see(marker='connections-total', retries=SIGN_IN_RETRIES)
    general = await hospital_id('general')
    [before] = [s for s in hub().sessions(general) if s.name == 'Sam Patel']
    assert before.last_activity == before.since

    # What NiceGUI does with a socket.io 'event' message from the nurse's browser: a click on the sound setting.
    client = Client.instances[before.client_id]
    with nurse:
        button = nurse.find(marker='sound').elements.pop()
    [listener_id] = [i for i, listener in button._event_listeners.items() if listener.type == 'click']
    client.handle_event({'id': button.id, 'listener_id': listener_id, 'type': 'click', 'args': []})

    [after] = [s for s in hub().sessions(general) if s.name == 'Sam Patel']
    assert after.last_activity is not None and after.last_activity > before.since
    assert after.since == before.since
    user.find(marker='connections-refresh').click()
    await user.should_see(marker='connections-sessions', content=after.last_activity.isoformat())
