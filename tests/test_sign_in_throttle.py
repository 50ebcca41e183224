"""Sign-in throttling: nobody can lock an account out, refusals all look alike, counts decay, admins clear them."""

import asyncio
import logging
from dataclasses import dataclass, field

import pytest
from passlib.context import CryptContext
from sqlalchemy import update

from app.bootstrap import Vigil
from app.errors import AuthenticationFailed, InvalidInput, NotAllowed, NotFound
from app.schemas import Actor, ThrottleView, UserView
from app.services.users import INVALID_CREDENTIALS
from data.models import User

from .conftest import TEST_PASSWORD, FakeClock, World

ATTACKER, NURSE_PC, ELSEWHERE = '198.51.100.7', '10.20.0.15', '10.20.0.99'
SYSTEM = Actor.system('test')


@dataclass
class CountingContext:
    """passlib's context with argon2id at its cheapest (the policy is under test here, not the hash's cost),
    counting every verification and which hash it was against."""

    context: CryptContext = field(default_factory=lambda: CryptContext(
        schemes=['argon2'], argon2__type='ID', argon2__rounds=1, argon2__memory_cost=64, argon2__parallelism=1))
    verified: list[str] = field(default_factory=list)

    def hash(self, secret: str) -> str:
        return str(self.context.hash(secret))

    def verify(self, secret: str, stored: str) -> bool:
        self.verified.append(stored)
        return bool(self.context.verify(secret, stored))


@pytest.fixture
async def hashes(vigil: Vigil, world: World) -> CountingContext:
    counting = CountingContext()
    vigil.hasher._context = counting  # type: ignore[assignment]
    cheap = counting.hash(TEST_PASSWORD)
    async with vigil.db.uow() as uow:
        await uow.session.execute(update(User).values(password_hash=cheap))
        await uow.commit()
    await vigil.hasher.burn('warm up')  # the dummy hash is made once, on the first unknown username
    counting.verified.clear()
    return counting


async def refused(vigil: Vigil, username: str, password: str, address: str) -> str:
    with pytest.raises(AuthenticationFailed) as caught:
        await vigil.users.authenticate(username, password, address=address)
    assert type(caught.value) is AuthenticationFailed
    return caught.value.message


async def signs_in(vigil: Vigil, username: str, address: str) -> UserView:
    return await vigil.users.authenticate(username, TEST_PASSWORD, address=address)


async def fail_until_blocked(vigil: Vigil, clock: FakeClock, username: str, address: str, times: int) -> None:
    """Fail `times` counted attempts, each one as soon as the wait before it is over."""
    for _ in range(times):
        message = await refused(vigil, username, 'a guess', address)
        if 'wait' in message:
            clock.advance(seconds=int(message.split('wait ')[1].split(' ')[0]))


def throttle(views: list[ThrottleView], username: str | None, address: str | None) -> ThrottleView | None:
    return next((v for v in views if (v.username, v.address) == (username, address)), None)


async def test_one_client_cannot_lock_an_account_out(vigil: Vigil, world: World, clock: FakeClock,
                                                     hashes: CountingContext) -> None:
    # The finding: five wrong passwords from one client locked the account for 15 minutes, for everyone.
    await fail_until_blocked(vigil, clock, 'alpha-charge', ATTACKER, 11)
    twelfth = await refused(vigil, 'alpha-charge', 'a guess', ATTACKER)  # doubling, up to 15 minutes
    assert int(twelfth.split('wait ')[1].split(' ')[0]) > 30
    assert 'wait' in await refused(vigil, 'alpha-charge', TEST_PASSWORD, ATTACKER)

    clock.advance(seconds=30)  # at most the account-wide delay
    assert (await signs_in(vigil, 'alpha-charge', NURSE_PC)).username == 'alpha-charge'
    assert (await signs_in(vigil, 'alpha-doctor', ELSEWHERE)).username == 'alpha-doctor'  # other accounts untouched
    assert 'wait' in await refused(vigil, 'alpha-charge', TEST_PASSWORD, ATTACKER)  # still the attacker's problem


async def test_the_client_a_throttle_keeps_out_is_the_one_that_failed(vigil: Vigil, world: World, clock: FakeClock,
                                                                      hashes: CountingContext) -> None:
    for _ in range(5):  # five free failures for the account from one address
        assert await refused(vigil, 'alpha-nurse', 'a guess', ATTACKER) == INVALID_CREDENTIALS
    sixth = await refused(vigil, 'alpha-nurse', 'a guess', ATTACKER)
    assert sixth.endswith('wait 1 second before the next try.')
    hashes.verified.clear()

    # Within that second even the right password is refused from there, and it is never tested.
    assert await refused(vigil, 'alpha-nurse', TEST_PASSWORD, ATTACKER) == sixth
    assert len(hashes.verified) == 1 and hashes.verified[0] != (await stored_hash(vigil, 'alpha-nurse'))

    clock.advance(seconds=1)
    assert (await signs_in(vigil, 'alpha-nurse', ATTACKER)).username == 'alpha-nurse'


async def stored_hash(vigil: Vigil, username: str) -> str:
    async with vigil.db.read() as session:
        return str(await session.scalar(User.__table__.select().with_only_columns(User.password_hash)
                                         .where(User.username == username)))


async def test_unknown_user_wrong_password_and_throttled_get_the_same_answer(
        vigil: Vigil, world: World, clock: FakeClock, hashes: CountingContext) -> None:
    cases = {'unknown user': ('nobody', 'a guess', '192.0.2.1'),
             'wrong password': ('alpha-nurse', 'a guess', '192.0.2.2'),
             'disabled account': ('alpha-nurse2', 'a guess', '192.0.2.3')}
    async with vigil.db.uow() as uow:
        await uow.session.execute(update(User).where(User.username == 'alpha-nurse2').values(active=False))
        await uow.commit()
    for attempt in range(6):
        answers = {case: await refused(vigil, *args) for case, args in cases.items()}
        assert len(set(answers.values())) == 1, (attempt, answers)
    assert 'wait 1 second' in answers['unknown user']
    # Blocked now: the right password of a real account answers exactly as the other two.
    answers = {case: await refused(vigil, *args) for case, args in cases.items()}
    answers['throttled, right password'] = await refused(vigil, 'alpha-nurse', TEST_PASSWORD, '192.0.2.2')
    assert set(answers.values()) == {answers['unknown user']}, answers


async def test_every_attempt_costs_exactly_one_password_hash(vigil: Vigil, world: World, clock: FakeClock,
                                                             hashes: CountingContext) -> None:
    """A refusal takes the time of one hash in every case: each kind of attempt computes exactly one."""
    real = await stored_hash(vigil, 'alpha-nurse')
    for _ in range(6):  # blocks this address for the doctor for a second
        await refused(vigil, 'alpha-doctor', 'a guess', '192.0.2.9')
    cases = {
        'unknown user': ('nobody', 'a guess', '192.0.2.1'),
        'wrong password': ('alpha-nurse', 'a guess', '192.0.2.2'),
        'throttled': ('alpha-doctor', TEST_PASSWORD, '192.0.2.9'),
    }
    against = {}
    for case, (username, password, address) in cases.items():
        hashes.verified.clear()
        await refused(vigil, username, password, address)
        assert len(hashes.verified) == 1, case
        against[case] = hashes.verified[0]
    assert against['wrong password'] == real
    assert against['unknown user'] == against['throttled'] != real  # the stand-in hash: the password is not tested
    hashes.verified.clear()
    await signs_in(vigil, 'alpha-nurse', '192.0.2.2')
    assert hashes.verified == [real]


async def test_failure_counts_decay(vigil: Vigil, world: World, clock: FakeClock, hashes: CountingContext) -> None:
    await fail_until_blocked(vigil, clock, 'alpha-nurse', ATTACKER, 8)
    before = throttle(await vigil.sign_in_throttle.current(SYSTEM), 'alpha-nurse', ATTACKER)
    assert before is not None and before.failures == 8

    clock.advance(hours=1)  # the pair's count halves every hour

    after = throttle(await vigil.sign_in_throttle.current(SYSTEM), 'alpha-nurse', ATTACKER)
    assert after is not None and after.failures == 4 and after.blocked_until is None
    assert await refused(vigil, 'alpha-nurse', 'a guess', ATTACKER) == INVALID_CREDENTIALS  # back under five
    clock.advance(hours=13)
    assert throttle(await vigil.sign_in_throttle.current(SYSTEM), 'alpha-nurse', ATTACKER) is None


async def test_a_successful_sign_in_gives_its_count_back(vigil: Vigil, world: World, clock: FakeClock,
                                                         hashes: CountingContext) -> None:
    for _ in range(4):
        await refused(vigil, 'alpha-nurse', 'a typo', NURSE_PC)
    await signs_in(vigil, 'alpha-nurse', NURSE_PC)

    views = await vigil.sign_in_throttle.current(SYSTEM)
    assert throttle(views, 'alpha-nurse', NURSE_PC) is None  # her own address: forgiven
    account, address = throttle(views, 'alpha-nurse', None), throttle(views, None, NURSE_PC)
    assert account is not None and account.failures == 4  # the typos still count, the sign-in does not
    assert address is not None and address.failures == 4


async def test_attackers_everywhere_never_delay_a_nurse_at_her_usual_workstation(
        vigil: Vigil, world: World, clock: FakeClock, hashes: CountingContext) -> None:
    await signs_in(vigil, 'alpha-charge', NURSE_PC)  # her workstation, yesterday
    clock.advance(hours=20)
    for host in range(1, 9):  # many addresses, a few guesses each: the account-wide count blocks
        for _ in range(2):
            await refused(vigil, 'alpha-charge', 'a guess', f'203.0.113.{host}')
    assert 'wait' in await refused(vigil, 'alpha-charge', TEST_PASSWORD, ELSEWHERE)

    assert (await signs_in(vigil, 'alpha-charge', NURSE_PC)).username == 'alpha-charge'


async def test_simultaneous_guesses_are_counted_before_any_is_tested(
        vigil: Vigil, world: World, clock: FakeClock, hashes: CountingContext) -> None:
    real = await stored_hash(vigil, 'alpha-nurse')
    results = await asyncio.gather(*(vigil.users.authenticate('alpha-nurse', f'guess {n}', address=ATTACKER)
                                     for n in range(12)), return_exceptions=True)
    assert all(type(r) is AuthenticationFailed for r in results)
    # Five free failures and the sixth (which starts the wait) were tested; the rest waited their turn and were
    # refused untested, as if they had come one after another.
    assert hashes.verified.count(real) == 6 and len(hashes.verified) == 12


async def test_ipv6_clients_are_counted_by_their_64_network(vigil: Vigil, world: World, clock: FakeClock,
                                                            hashes: CountingContext) -> None:
    for host in range(1, 7):  # six addresses of one /64: one client, as far as throttling goes
        message = await refused(vigil, 'alpha-nurse', 'a guess', f'2001:db8:1:2::{host}')
    assert 'wait 1 second' in message
    assert 'wait' in await refused(vigil, 'alpha-nurse', TEST_PASSWORD, '2001:db8:1:2::ff')
    clock.advance(seconds=1)  # the account-wide count reached six too
    assert (await signs_in(vigil, 'alpha-nurse', '2001:db8:1:3::1')).username == 'alpha-nurse'


# --- administrators --------------------------------------------------------------------------------------------

async def test_an_admin_sees_and_clears_the_throttles_of_their_hospital(
        vigil: Vigil, world: World, clock: FakeClock, hashes: CountingContext,
        caplog: pytest.LogCaptureFixture) -> None:
    await fail_until_blocked(vigil, clock, 'beta-nurse', '192.0.2.50', 7)
    await fail_until_blocked(vigil, clock, 'alpha-nurse', ATTACKER, 6)
    await refused(vigil, 'alpha-nurse', 'a guess', ATTACKER)  # the seventh: blocked for two seconds
    await refused(vigil, 'my-password-typed-as-username', 'x', '192.0.2.60')
    admin = world.a.actor('admin')

    views = await vigil.sign_in_throttle.current(admin)
    assert {v.username for v in views} == {'alpha-nurse', None}  # not beta's, never a name that is no account
    pair = throttle(views, 'alpha-nurse', ATTACKER)
    assert pair is not None and pair.failures == 7 and pair.blocked_until is not None
    assert 'wait' in await refused(vigil, 'alpha-nurse', TEST_PASSWORD, ATTACKER)

    with caplog.at_level(logging.INFO, logger='app.services.sign_in_throttle'):
        assert await vigil.sign_in_throttle.clear(admin, username='alpha-nurse') == 2  # the account and the pair
    record = next(r for r in caplog.records if getattr(r, 'event', None) == 'auth.throttle_cleared')
    assert (record.actor, record.username) == (admin.name, 'alpha-nurse')  # type: ignore[attr-defined]
    assert (await signs_in(vigil, 'alpha-nurse', ATTACKER)).username == 'alpha-nurse'
    remaining = await vigil.sign_in_throttle.current(SYSTEM)
    assert throttle(remaining, 'beta-nurse', '192.0.2.50') is not None  # another hospital's, untouched


async def test_clearing_an_address_clears_every_account_tried_from_it(
        vigil: Vigil, world: World, clock: FakeClock, hashes: CountingContext) -> None:
    await fail_until_blocked(vigil, clock, 'alpha-nurse', ATTACKER, 7)
    assert await vigil.sign_in_throttle.clear(world.a.actor('admin'), address=ATTACKER) == 2  # address and pair
    assert (await signs_in(vigil, 'alpha-nurse', ATTACKER)).username == 'alpha-nurse'


@pytest.mark.parametrize('who, target, error', [
    ('alpha-charge', {'username': 'alpha-nurse'}, NotAllowed),
    ('beta-admin', {'username': 'alpha-nurse'}, NotFound),
    ('beta-admin', {'username': 'nobody-at-all'}, NotFound),
    ('alpha-admin', {}, InvalidInput),
    ('alpha-admin', {'username': ' ', 'address': ''}, InvalidInput),
])
async def test_bad_clear_requests_are_refused_and_clear_nothing(
        vigil: Vigil, world: World, clock: FakeClock, hashes: CountingContext, who: str, target: dict[str, str],
        error: type[Exception]) -> None:
    await fail_until_blocked(vigil, clock, 'alpha-nurse', ATTACKER, 7)
    before = await vigil.sign_in_throttle.current(SYSTEM)
    side, role = who.split('-')
    actor = (world.a if side == 'alpha' else world.b).actor(role)

    with pytest.raises(error):
        await vigil.sign_in_throttle.clear(actor, **target)  # type: ignore[arg-type]

    assert await vigil.sign_in_throttle.current(SYSTEM) == before


async def test_only_administrators_see_throttles(vigil: Vigil, world: World) -> None:
    with pytest.raises(NotAllowed):
        await vigil.sign_in_throttle.current(world.a.actor('doctor'))
