"""Account lifecycle as staff see it: a deactivated user's open pages leave at once and get nothing more; the admin
page deactivates and reactivates behind a confirmation; a changed role or wards reach open pages without a reload.

Open pages hear of a change through the bus signal (instant) or the hub's account watch (`check_accounts`, which each
server runs every VIGIL_WATCHDOG_SECONDS: set to the maximum here, so it runs only when a test calls it).
"""

from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User
from sqlalchemy import delete, insert, update

from app.bootstrap import build
from app.config import Settings
from app.domain import Role
from app.schemas import Actor
from data.models import User as Account
from data.models import UserWard, Ward

from .test_ui_dashboard import (
    SIGN_IN_RETRIES,
    eventually,
    raise_for,
    running,
    should_not_see_row,
    should_see_row,
    sign_in,
)
from .test_ui_pages import sign_in as sign_in_to

DEACTIVATED = 'Your account has been deactivated.'


@pytest.fixture(autouse=True)
def watch_on_demand(quiet_demo: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv('VIGIL_WATCHDOG_SECONDS', '60')


def accounts_table(user: User) -> str:
    element = user.find(marker='admin-users').elements.pop()
    assert isinstance(element, ui.html)
    return element.content


async def account(username: str) -> Actor:
    vigil, _, _ = running()
    cli = Actor.system('cli', hospital_id=(await vigil.hospitals.get('general')).id)
    return Actor.for_user(await vigil.users.find(cli, username))


async def test_an_open_dashboard_of_a_deactivated_user_leaves_and_gets_no_more_alerts(user: User) -> None:
    await sign_in(user, 'nurse')
    page = user.client
    vigil, hub, _ = running()
    before = await raise_for('AMU-02', 'Raised while the account is active')
    await should_see_row(user, before.id)
    nurse = await account('nurse')

    await vigil.users.deactivate(await account('admin'), nurse.user_id or 0, reason='Left the trust')

    await user.should_see(marker='login-message', content=DEACTIVATED, retries=SIGN_IN_RETRIES)
    await eventually(lambda: page.is_deleted)  # dropped on the server too: a browser that stays gets nothing
    assert hub.subscription_count == 0
    after = await raise_for('AMU-03', 'Raised after the deactivation')
    await should_not_see_row(user, after.id)
    await user.open('/')  # and the old sign-in is over
    await user.should_see(kind=ui.button, content='Log in')


async def test_an_admin_deactivates_and_reactivates_an_account_from_the_admin_page(
        user: User, create_user: type[User]) -> None:
    nurse = create_user()  # type: ignore[operator]
    await sign_in(nurse, 'nurse')
    nurse_page = nurse.client
    await sign_in_to(user, 'admin', '/admin')
    await user.should_see(marker='admin-users', content='Sam Patel', retries=SIGN_IN_RETRIES)
    nurse_id = (await account('nurse')).user_id
    admin_id = (await account('admin')).user_id
    assert f'data-vigil-account="deactivate" data-user="{nurse_id}"' in accounts_table(user)

    user.find(marker='admin-users').trigger('click', {'action': 'deactivate', 'user': nurse_id})
    await user.should_see(marker='account-dialog-title', content='Deactivate Sam Patel (nurse)?')
    user.find(marker='account-confirm').click()  # without a reason
    await user.should_see(marker='account-error', content='Say why')
    await nurse.should_see(marker='alert-count')  # nothing happened yet
    user.find(marker='account-reason').type('Left the trust')
    user.find(marker='account-confirm').click()

    # NOTE: in the simulation, ui.navigate goes to the last touched user (the admin): watch the nurse's page go.
    await eventually(lambda: nurse_page.is_deleted, retries=SIGN_IN_RETRIES)
    await nurse.open('/')
    await nurse.should_see(kind=ui.button, content='Log in')
    await user.open('/admin')  # the simulated navigation took the admin away (see above)
    await user.should_see(marker='admin-users', content='Deactivated', retries=SIGN_IN_RETRIES)
    assert f'data-vigil-account="reactivate" data-user="{nurse_id}"' in accounts_table(user)
    # The admin's own row has no button (and the service refuses oneself: tests/test_accounts.py).
    assert f'data-vigil-account="deactivate" data-user="{admin_id}"' not in accounts_table(user)

    user.find(marker='admin-users').trigger('click', {'action': 'reactivate', 'user': nurse_id})
    await user.should_see(marker='account-dialog-title', content='Reactivate Sam Patel (nurse)?')
    await user.should_see(marker='account-reason', content='')
    user.find(marker='account-reason').type('Back from leave')
    user.find(marker='account-confirm').click()
    await user.should_see(marker='account-status', content='nurse is active again')
    await sign_in(nurse, 'nurse')  # a fresh sign-in works again


async def test_a_refused_change_shows_why_in_the_dialog(user: User) -> None:
    vigil, _, _ = running()
    await sign_in_to(user, 'admin', '/admin')
    await user.should_see(marker='admin-users', content='Sam Patel', retries=SIGN_IN_RETRIES)
    nurse_id = (await account('nurse')).user_id
    await vigil.users.deactivate(await account('admin'), nurse_id or 0, reason='Meanwhile, in another tab')

    user.find(marker='admin-users').trigger('click', {'action': 'deactivate', 'user': nurse_id})
    await user.should_see(marker='account-dialog-title', content='Deactivate Sam Patel (nurse)?')
    user.find(marker='account-reason').type('Left the trust')
    user.find(marker='account-confirm').click()

    await user.should_see(marker='account-error', content='The account "nurse" is already deactivated.')


async def test_a_deactivation_the_bus_never_carried_reaches_open_pages_through_the_account_watch(
        user: User, tmp_path: Path) -> None:
    await sign_in(user, 'nurse')
    _, hub, _ = running()
    # Another process without Redis (an operator CLI, say): its signal reaches only itself.
    other = build(Settings(data_dir=tmp_path, database_url=None, redis_url=None))
    try:
        cli = Actor.system('cli', hospital_id=(await other.hospitals.get('general')).id)
        await other.users.deactivate(cli, (await other.users.find(cli, 'nurse')).id, reason='Left the trust')
    finally:
        await other.close()
    await user.should_see(marker='alert-count')  # no word yet

    await hub.check_accounts()

    await user.should_see(marker='login-message', content=DEACTIVATED, retries=SIGN_IN_RETRIES)


async def set_wards(username: str, wards: list[str]) -> None:
    """Change an account's wards in the database, as an account editor would (Vigil has none yet)."""
    vigil, _, _ = running()
    user_id = (await account(username)).user_id
    async with vigil.db.uow() as uow:
        ids = [(await uow.session.scalars(Ward.__table__.select().where(Ward.name == w))).one() for w in wards]
        await uow.session.execute(delete(UserWard).where(UserWard.user_id == user_id))
        await uow.session.execute(insert(UserWard), [{'user_id': user_id, 'ward_id': w} for w in ids])
        await uow.commit()


async def test_changed_wards_reach_an_open_page_which_reloads_with_the_new_scope(user: User) -> None:
    await sign_in(user, 'nurse')
    _, hub, _ = running()
    await hub.check_accounts()  # what the page was built with
    await user.should_see('8 in your scope')  # the Acute Medical Unit
    cardiology = await raise_for('CAR-01', 'On a ward the nurse does not cover')
    await should_not_see_row(user, cardiology.id)

    await set_wards('nurse', ['Acute Medical Unit', 'Cardiology'])
    await hub.check_accounts()

    await should_see_row(user, cardiology.id, retries=SIGN_IN_RETRIES)
    await user.should_see('16 in your scope')


async def test_an_admin_whose_role_is_taken_away_leaves_the_admin_page(user: User) -> None:
    vigil, hub, _ = running()
    await sign_in_to(user, 'admin', '/admin')
    await user.should_see(marker='admin-users', retries=SIGN_IN_RETRIES)
    await hub.check_accounts()

    async with vigil.db.uow() as uow:
        await uow.session.execute(update(Account).where(Account.username == 'admin').values(role=Role.NURSE))
        await uow.commit()
    await hub.check_accounts()

    await user.should_see('Administrators only', retries=SIGN_IN_RETRIES)
    await user.should_not_see(marker='admin-users')


async def test_an_unchanged_account_keeps_its_open_page(user: User) -> None:
    await sign_in(user, 'nurse')
    page = user.client
    _, hub, _ = running()
    await hub.check_accounts()
    await hub.check_accounts()
    alert = await raise_for('AMU-04', 'Still live')
    await should_see_row(user, alert.id)
    assert user.client is page and not page.is_deleted
