"""Account lifecycle: administrators deactivate and reactivate staff accounts of their own hospital.

A deactivated account cannot sign in, every sign-in it had ends for good, and a signal tells every process so its
open pages leave; every refusal (unknown account, another hospital, oneself, the last administrator, not an
administrator, a bad reason) says why and changes nothing.
"""

import logging
from typing import Any

import pytest
from sqlalchemy import select, update

from app.bootstrap import Vigil
from app.domain import Role, TokenKind
from app.errors import AuthenticationFailed, Conflict, InvalidInput, NotAllowed, UserNotFound
from app.events.signals import ACCOUNT_CHANGED
from app.schemas import Actor
from data.models import User

from .conftest import TEST_PASSWORD, FakeClock, World


def signals(vigil: Vigil) -> list[dict[str, Any]]:
    """Every signal any process sends from now on (the memory transport delivers at once)."""
    heard: list[dict[str, Any]] = []
    vigil.bus.on_signal(heard.append)
    return heard


async def accounts(vigil: Vigil) -> list[tuple[Any, ...]]:
    """What a refused change could have touched."""
    async with vigil.db.read() as session:
        return [tuple(row) for row in await session.execute(
            select(User.id, User.active, User.sessions_revoked_at, User.role).order_by(User.id))]


async def test_a_deactivated_account_cannot_sign_in_and_its_sessions_end_everywhere(
        vigil: Vigil, world: World, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    heard = signals(vigil)
    nurse = world.a.users['nurse']
    signed_in_at = clock()
    assert await vigil.users.session_user(nurse.id, signed_in_at) is not None
    clock.advance(minutes=5)

    with caplog.at_level(logging.INFO, logger='app.services.users'):
        view = await vigil.users.deactivate(world.a.actor('admin'), nurse.id, reason='Left the trust on 28 Feb')

    assert (view.username, view.active) == ('alpha-nurse', False)
    with pytest.raises(AuthenticationFailed):
        await vigil.users.authenticate('alpha-nurse', TEST_PASSWORD, address='192.0.2.10')
    assert await vigil.users.session_user(nurse.id, signed_in_at) is None
    assert heard == [{'kind': ACCOUNT_CHANGED, 'hospital_id': world.a.hospital_id, 'user_id': nurse.id,
                      'reason': 'deactivated'}]
    record = next(r for r in caplog.records if getattr(r, 'event', None) == 'account.deactivated')
    assert (record.user_id, record.by, record.reason) == (nurse.id, 'Admin (alpha-admin)', 'Left the trust on 28 Feb')
    assert [u.active for u in await vigil.users.list_users(world.a.actor('admin')) if u.id == nurse.id] == [False]
    # Everyone else carries on.
    other = await vigil.users.authenticate('alpha-nurse2', TEST_PASSWORD, address='192.0.2.10')
    assert other.username == 'alpha-nurse2'


async def test_a_reactivated_account_signs_in_again_but_its_old_sessions_stay_ended(
        vigil: Vigil, world: World, clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    nurse = world.a.users['nurse']
    old_sign_in = clock()
    clock.advance(minutes=1)
    await vigil.users.deactivate(world.a.actor('admin'), nurse.id, reason='Suspended pending review')
    clock.advance(days=2)
    heard = signals(vigil)

    with caplog.at_level(logging.INFO, logger='app.services.users'):
        view = await vigil.users.reactivate(world.a.actor('admin'), nurse.id, reason='Review closed')

    assert view.active
    assert heard == []  # nothing for open pages to do: the account had none
    assert await vigil.users.session_user(nurse.id, old_sign_in) is None
    assert (await vigil.users.authenticate('alpha-nurse', TEST_PASSWORD, address='192.0.2.10')).id == nurse.id
    assert await vigil.users.session_user(nurse.id, clock()) is not None
    record = next(r for r in caplog.records if getattr(r, 'event', None) == 'account.reactivated')
    assert record.reason == 'Review closed'


async def test_the_operator_cli_deactivates_and_reactivates_by_username(vigil: Vigil, world: World) -> None:
    cli = Actor.system('cli', hospital_id=world.b.hospital_id)
    found = await vigil.users.find(cli, ' Beta-Nurse ')
    assert (await vigil.users.deactivate(cli, found.id, reason='Agency shift ended')).active is False
    assert (await vigil.users.reactivate(cli, found.id, reason='Booked again')).active is True


async def test_an_admin_can_deactivate_another_admin_while_one_stays(vigil: Vigil, world: World) -> None:
    second = await vigil.users.create(Actor.system('cli'), hospital_slug='alpha', username='alpha-admin2',
                                      password=TEST_PASSWORD, role=Role.ADMIN)
    await vigil.users.deactivate(world.a.actor('admin'), second.id, reason='Second admin account not needed')
    with pytest.raises(AuthenticationFailed):
        await vigil.users.authenticate('alpha-admin2', TEST_PASSWORD, address='192.0.2.10')


def cli(world: World) -> Actor:
    return Actor.system('cli', hospital_id=world.a.hospital_id)


REFUSALS: dict[str, tuple[Any, type[Exception], str]] = {
    # name: (how to call, error, words the message must contain)
    'unknown account': (lambda v, w: v.users.deactivate(w.a.actor('admin'), 999_999, reason='r'),
                        UserNotFound, 'No account 999999 in this hospital'),
    "another hospital's account": (
        lambda v, w: v.users.deactivate(w.b.actor('admin'), w.a.users['nurse'].id, reason='r'),
        UserNotFound, 'in this hospital'),
    "another hospital's account from the cli": (
        lambda v, w: v.users.deactivate(Actor.system('cli', hospital_id=w.b.hospital_id), w.a.users['nurse'].id,
                                        reason='r'), UserNotFound, 'in this hospital'),
    'oneself': (lambda v, w: v.users.deactivate(w.a.actor('admin'), w.a.users['admin'].id, reason='r'),
                NotAllowed, 'your own account'),
    'the last administrator': (lambda v, w: v.users.deactivate(cli(w), w.a.users['admin'].id, reason='r'),
                               NotAllowed, 'last active administrator'),
    'a nurse': (lambda v, w: v.users.deactivate(w.a.actor('nurse'), w.a.users['nurse2'].id, reason='r'),
                NotAllowed, 'Only an administrator'),
    'a charge nurse': (lambda v, w: v.users.deactivate(w.a.actor('charge'), w.a.users['nurse'].id, reason='r'),
                       NotAllowed, 'Only an administrator'),
    'a physician reactivating': (
        lambda v, w: v.users.reactivate(w.a.actor('doctor'), w.a.users['nurse'].id, reason='r'),
        NotAllowed, 'Only an administrator'),
    'an API token': (lambda v, w: v.users.deactivate(
        Actor(kind='token', hospital_id=w.a.hospital_id, name='token:x', token_id=1,
              token_kind=TokenKind.INTEGRATION), w.a.users['nurse'].id, reason='r'),
        NotAllowed, 'Only an administrator'),
    'the system without a hospital': (lambda v, w: v.users.deactivate(Actor.system('cli'), w.a.users['nurse'].id,
                                                                      reason='r'), NotAllowed, 'needs a hospital'),
    'no reason': (lambda v, w: v.users.deactivate(w.a.actor('admin'), w.a.users['nurse'].id, reason='  '),
                  InvalidInput, 'Say why'),
    'a reason of two lines': (
        lambda v, w: v.users.deactivate(w.a.actor('admin'), w.a.users['nurse'].id, reason='Left\nthe trust'),
        InvalidInput, 'reason'),
    'a reason too long': (lambda v, w: v.users.deactivate(w.a.actor('admin'), w.a.users['nurse'].id,
                                                          reason='x' * 501), InvalidInput, '1-500 characters'),
    'reactivating an active account': (
        lambda v, w: v.users.reactivate(w.a.actor('admin'), w.a.users['nurse'].id, reason='r'),
        Conflict, 'already active'),
}


@pytest.mark.parametrize('case', REFUSALS)
async def test_each_refusal_says_why_and_changes_nothing(vigil: Vigil, world: World, case: str) -> None:
    call, error, words = REFUSALS[case]
    before = await accounts(vigil)
    heard = signals(vigil)

    with pytest.raises(error, match=words):
        await call(vigil, world)

    assert await accounts(vigil) == before
    assert heard == []


async def test_deactivating_twice_is_a_conflict(vigil: Vigil, world: World) -> None:
    await vigil.users.deactivate(world.a.actor('admin'), world.a.users['nurse'].id, reason='Left')
    before = await accounts(vigil)
    with pytest.raises(Conflict, match='already deactivated'):
        await vigil.users.deactivate(world.a.actor('admin'), world.a.users['nurse'].id, reason='Left')
    assert await accounts(vigil) == before


async def test_an_admin_whose_role_was_taken_away_is_refused_at_once(vigil: Vigil, world: World) -> None:
    stale = world.a.actor('admin')  # the actor a page built before the change still holds
    second = await vigil.users.create(Actor.system('cli'), hospital_slug='alpha', username='alpha-admin2',
                                      password=TEST_PASSWORD, role=Role.ADMIN)
    async with vigil.db.uow() as uow:
        await uow.session.execute(update(User).where(User.id == stale.user_id).values(role=Role.NURSE))
        await uow.commit()
    before = await accounts(vigil)

    with pytest.raises(NotAllowed, match='Only an administrator'):
        await vigil.users.deactivate(stale, second.id, reason='r')
    assert await accounts(vigil) == before


async def test_looking_an_account_up_by_username_stays_in_the_hospital(vigil: Vigil, world: World) -> None:
    with pytest.raises(UserNotFound, match='No account "nobody" in this hospital'):
        await vigil.users.find(cli(world), 'nobody')
    with pytest.raises(UserNotFound, match='No account "beta-nurse"'):
        await vigil.users.find(cli(world), 'beta-nurse')  # exists, in the other hospital
    with pytest.raises(NotAllowed):
        await vigil.users.find(world.a.actor('nurse'), 'alpha-nurse2')


async def test_account_states_show_what_open_pages_depend_on(vigil: Vigil, world: World) -> None:
    nurse, doctor = world.a.users['nurse'], world.b.users['doctor']
    await vigil.users.deactivate(world.a.actor('admin'), nurse.id, reason='Left')

    states = {s.user_id: s for s in await vigil.users.account_states({nurse.id, doctor.id, 999_999})}

    assert set(states) == {nurse.id, doctor.id}
    assert (states[nurse.id].active, states[nurse.id].ward_ids) == (False, (world.a.ward_ids['North'],))
    assert states[nurse.id].sessions_revoked_at is not None
    assert (states[doctor.id].active, states[doctor.id].role, states[doctor.id].hospital_id) == (
        True, Role.PHYSICIAN, world.b.hospital_id)
    assert await vigil.users.account_states(()) == []
