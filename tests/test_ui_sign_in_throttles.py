"""The admin page's sign-in throttles: an administrator sees who is made to wait and clears it."""

import pytest
from nicegui import ui
from nicegui.testing import User

from app.errors import AuthenticationFailed
from app.schemas import Actor

from .test_ui_dashboard import SIGN_IN_RETRIES
from .test_ui_pages import running, sign_in

pytestmark = pytest.mark.usefixtures('quiet_demo')
CLIENT = '192.0.2.10'


async def test_an_admin_sees_a_throttle_and_clears_it(user: User) -> None:
    vigil, _ = running()
    for _ in range(6):
        with pytest.raises(AuthenticationFailed):
            await vigil.users.authenticate('nurse', 'wrong guess', address=CLIENT)

    await sign_in(user, 'admin', '/admin')

    await user.should_see(marker=f'throttle:nurse@{CLIENT}', content='nurse from 192.0.2.10: 6 recent failure(s)',
                          retries=SIGN_IN_RETRIES)
    await user.should_see(marker='throttle:nurse@*', content='nurse from any address: 6 recent failure(s)')
    await user.should_see(marker=f'throttle:*@{CLIENT}', content='any account from 192.0.2.10: 6 recent failure(s)')

    user.find(marker=f'clear-throttle:nurse@{CLIENT}').click()

    await user.should_see(f'Cleared: nurse from {CLIENT}.')
    await user.should_not_see(marker=f'throttle:nurse@{CLIENT}')
    await user.should_see(marker='throttle:nurse@*')  # only what was cleared is gone
    # The username-from-anywhere count still makes the next try wait (for a second or two) until it is cleared too.
    user.find(marker='clear-throttle:nurse@*').click()
    await user.should_not_see(marker='throttle:nurse@*')
    assert (await vigil.users.authenticate('nurse', 'demo', address=CLIENT)).username == 'nurse'
    system = Actor.system('test')
    assert all((t.username, t.address) != ('nurse', CLIENT) for t in await vigil.sign_in_throttle.current(system))


async def test_staff_who_are_not_administrators_see_no_throttles(user: User) -> None:
    await sign_in(user, 'charge', '/admin')
    await user.should_see('Administrators only', retries=SIGN_IN_RETRIES)
    await user.should_not_see(kind=ui.button, content='Clear')
