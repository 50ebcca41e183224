"""Sign-in, passwords and API tokens (sign-in throttling: test_sign_in_throttle.py)."""

import pytest
from sqlalchemy import select

from app.bootstrap import Vigil
from app.domain import Role, TokenKind
from app.errors import (
    AlreadyExists,
    AuthenticationFailed,
    HospitalNotFound,
    InvalidInput,
    NotAllowed,
    TokenInvalid,
    TokenNotFound,
    WardNotFound,
)
from app.schemas import Actor
from app.security import token_digest
from app.services.users import INVALID_CREDENTIALS
from data.models import ApiToken, User

from .conftest import TEST_PASSWORD, FakeClock, World

CLI = Actor.system('cli')
HERE = '10.0.0.5'


async def test_valid_credentials_return_the_user_with_wards(vigil: Vigil, world: World) -> None:
    user = await vigil.users.authenticate('alpha-nurse', TEST_PASSWORD, address=HERE)
    assert (user.username, user.role, user.ward_ids) == ('alpha-nurse', Role.NURSE, (world.a.ward_ids['North'],))


async def test_username_is_case_and_space_insensitive(vigil: Vigil, world: World) -> None:
    assert (await vigil.users.authenticate('  Alpha-Nurse ', TEST_PASSWORD, address=HERE)).username == 'alpha-nurse'


@pytest.mark.parametrize('username, password', [('alpha-nurse', 'wrong password'), ('nobody', TEST_PASSWORD)])
async def test_wrong_password_and_unknown_user_get_the_same_message(
        vigil: Vigil, world: World, username: str, password: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        await vigil.users.authenticate(username, password, address=HERE)
    assert type(caught.value) is AuthenticationFailed and caught.value.message == INVALID_CREDENTIALS


async def test_created_user_is_hashed_with_argon2id(vigil: Vigil, world: World) -> None:
    user = await vigil.users.create(CLI, hospital_slug='alpha', username='New.Nurse', password='s3cure-enough',
                                    role=Role.NURSE, display_name='New Nurse', ward_names=['South'])
    assert (user.username, user.ward_ids) == ('new.nurse', (world.a.ward_ids['South'],))
    async with vigil.db.read() as session:
        stored = await session.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored is not None and stored.startswith('$argon2id$') and 's3cure-enough' not in stored
    assert (await vigil.users.authenticate('new.nurse', 's3cure-enough', address=HERE)).id == user.id


@pytest.mark.parametrize('changes, error, message', [
    ({'password': 'short'}, InvalidInput, 'at least 8 characters'),
    ({'username': 'x'}, InvalidInput, 'A username has'),
    ({'username': 'bad name!'}, InvalidInput, 'A username has'),
    ({'username': 'alpha-nurse'}, AlreadyExists, 'is taken'),
    ({'hospital_slug': 'nowhere'}, HospitalNotFound, 'No hospital with the slug "nowhere"'),
    ({'ward_names': ['East']}, WardNotFound, 'No ward named "East"'),
])
async def test_bad_user_creation_is_refused_and_creates_nothing(
        vigil: Vigil, world: World, changes: dict[str, object], error: type[Exception], message: str) -> None:
    request: dict[str, object] = {'hospital_slug': 'alpha', 'username': 'fresh', 'password': 'long enough',
                                  'role': Role.NURSE, 'ward_names': ['North']}
    with pytest.raises(error, match=message):
        await vigil.users.create(CLI, **{**request, **changes})  # type: ignore[arg-type]
    assert len(await vigil.users.list_users(world.a.actor('admin'))) == 5


async def test_only_an_admin_of_that_hospital_creates_accounts(vigil: Vigil, world: World) -> None:
    for actor, message in ((world.a.actor('charge'), 'Only an administrator'),
                           (world.b.actor('admin'), 'in their own hospital only')):
        with pytest.raises(NotAllowed, match=message):
            await vigil.users.create(actor, hospital_slug='alpha', username='fresh', password='long enough',
                                     role=Role.NURSE)
    created = await vigil.users.create(world.a.actor('admin'), hospital_slug='alpha', username='fresh',
                                       password='long enough', role=Role.PHYSICIAN)
    assert created.role is Role.PHYSICIAN


async def test_change_password(vigil: Vigil, world: World) -> None:
    nurse = world.a.actor('nurse')
    with pytest.raises(AuthenticationFailed, match='current password is wrong'):
        await vigil.users.change_password(nurse, 'not it', 'brand new secret')
    with pytest.raises(InvalidInput, match='at least 8'):
        await vigil.users.change_password(nurse, TEST_PASSWORD, 'short')
    with pytest.raises(InvalidInput, match='must differ'):
        await vigil.users.change_password(nurse, TEST_PASSWORD, TEST_PASSWORD)
    await vigil.users.authenticate('alpha-nurse', TEST_PASSWORD, address=HERE)  # nothing changed so far
    await vigil.users.change_password(nurse, TEST_PASSWORD, 'brand new secret')
    with pytest.raises(AuthenticationFailed):
        await vigil.users.authenticate('alpha-nurse', TEST_PASSWORD, address=HERE)
    assert (await vigil.users.authenticate('alpha-nurse', 'brand new secret', address=HERE)).username == 'alpha-nurse'


async def test_token_secret_is_shown_once_and_stored_hashed(vigil: Vigil, world: World) -> None:
    created = await vigil.tokens.create(hospital_slug='alpha', kind=TokenKind.DEVICE, name='ICU gateway')
    assert created.secret.startswith('vgd_') and len(created.secret) > 40
    async with vigil.db.read() as session:
        row = await session.scalar(select(ApiToken).where(ApiToken.id == created.token.id))
    assert row is not None
    assert row.token_hash == token_digest(created.secret) and created.secret not in (row.token_hash, row.prefix)
    actor = await vigil.tokens.verify(created.secret)
    assert (actor.kind, actor.hospital_id, actor.token_kind, actor.name) == (
        'token', world.a.hospital_id, TokenKind.DEVICE, 'token:ICU gateway')
    listed = await vigil.tokens.list_tokens(hospital_slug='alpha')
    assert [t.name for t in listed] == ['ICU gateway'] and 'secret' not in listed[0].model_dump()


async def test_unknown_and_revoked_tokens_are_refused(vigil: Vigil, world: World, clock: FakeClock) -> None:
    created = await vigil.tokens.create(hospital_slug='alpha', kind=TokenKind.KIOSK, name='Ward North wall')
    with pytest.raises(TokenInvalid):
        await vigil.tokens.verify(created.secret + 'x')
    with pytest.raises(TokenInvalid):
        await vigil.tokens.verify('')
    revoked = await vigil.tokens.revoke(hospital_slug='alpha', name='Ward North wall')
    assert revoked.revoked_at == clock()
    with pytest.raises(TokenInvalid, match='unknown or has been revoked'):
        await vigil.tokens.verify(created.secret)
    clock.advance(minutes=1)
    again = await vigil.tokens.revoke(hospital_slug='alpha', name='Ward North wall')
    assert again.revoked_at == revoked.revoked_at  # revoking twice keeps the first time


async def test_bad_token_requests(vigil: Vigil, world: World) -> None:
    await vigil.tokens.create(hospital_slug='alpha', kind=TokenKind.DEVICE, name='gw')
    with pytest.raises(AlreadyExists, match='already has a token named "gw"'):
        await vigil.tokens.create(hospital_slug='alpha', kind=TokenKind.KIOSK, name='gw')
    with pytest.raises(InvalidInput, match='1-100 characters'):
        await vigil.tokens.create(hospital_slug='alpha', kind=TokenKind.KIOSK, name='  ')
    with pytest.raises(HospitalNotFound):
        await vigil.tokens.create(hospital_slug='nowhere', kind=TokenKind.KIOSK, name='x')
    with pytest.raises(TokenNotFound, match='has no token named "missing"'):
        await vigil.tokens.revoke(hospital_slug='alpha', name='missing')
    with pytest.raises(TokenNotFound):  # a token of another hospital is not found either
        await vigil.tokens.revoke(hospital_slug='beta', name='gw')
    assert [t.name for t in await vigil.tokens.list_tokens(hospital_slug='alpha')] == ['gw']
    same_name_elsewhere = await vigil.tokens.create(hospital_slug='beta', kind=TokenKind.DEVICE, name='gw')
    assert same_name_elsewhere.token.hospital_id == world.b.hospital_id
