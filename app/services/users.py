"""Staff accounts: create, sign in (throttled: app/services/sign_in_throttle.py), change password, deactivate and
reactivate."""

import logging
import re
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from app.client_address import throttle_key
from app.clock import Clock
from app.domain import Role
from app.domain.text import check_one_line
from app.domain.throttle import typed_username
from app.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotAllowed,
    UserNotFound,
    WardNotFound,
)
from app.events import EventBus
from app.events.signals import ACCOUNT_CHANGED, AccountChange
from app.schemas import AccountState, Actor, UserView
from app.security import MIN_PASSWORD_LENGTH, PasswordHasher
from app.uow import Database
from data.models import Hospital, User, Ward

from .common import add_unique, hospital_by_slug, require_hospital
from .sign_in_throttle import SignInThrottleService

log = logging.getLogger(__name__)

USERNAME = re.compile(r'^[a-z0-9][a-z0-9._-]{1,63}$')
INVALID_CREDENTIALS = 'Unknown username or wrong password.'
MAX_REASON = 500


def refusal_message(wait_seconds: int) -> str:
    """Return the one answer to every refused sign-in, whether the username, the password or a throttle refused it."""
    if not wait_seconds:
        return INVALID_CREDENTIALS
    return (f'Unknown username or wrong password, or too many failed sign-ins: wait {wait_seconds} '
            f'second{"s" if wait_seconds != 1 else ""} before the next try.')


def user_view(user: User) -> UserView:
    """Build the view of a user whose wards are loaded."""
    return UserView(id=user.id, hospital_id=user.hospital_id, username=user.username,
                    display_name=user.display_name, role=Role(user.role), ward_ids=tuple(w.id for w in user.wards),
                    active=user.active)


def check_password_policy(password: str) -> None:
    """Refuse passwords too short to resist guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f'The password must have at least {MIN_PASSWORD_LENGTH} characters.')


def checked_reason(reason: object, what: str) -> str:
    """Return the reason stripped, if it is one line of 1-500 characters."""
    text = reason.strip() if isinstance(reason, str) else ''
    if not 1 <= len(text) <= MAX_REASON:
        raise InvalidInput(f'Say why the account is {what} (1-{MAX_REASON} characters): it goes in the log.')
    check_one_line(text, 'The reason')
    return text


class UserService:
    def __init__(self, db: Database, clock: Clock, hasher: PasswordHasher, throttle: SignInThrottleService,
                 bus: EventBus) -> None:
        self._db = db
        self._clock = clock
        self._hasher = hasher
        self._throttle = throttle
        self._bus = bus

    async def create(self, actor: Actor, *, hospital_slug: str, username: str, password: str, role: Role,
                     display_name: str | None = None, ward_names: Sequence[str] = ()) -> UserView:
        """Create a staff account; only the system (operator CLI) or an admin of that hospital may."""
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise InvalidInput('A username has 2-64 characters: lower-case letters, digits, ".", "_" or "-".')
        check_password_policy(password)
        check_one_line(display_name, 'The display name')
        password_hash = await self._hasher.hash(password)
        if actor.kind != 'system' and actor.role is not Role.ADMIN:
            raise NotAllowed('Only an administrator of this hospital can create accounts.')
        async with self._db.uow() as uow:
            session = uow.session
            if actor.kind == 'system':
                hospital = await hospital_by_slug(session, hospital_slug)
            else:
                # An admin learns nothing about other hospitals, not even whether a slug exists.
                own = await session.scalar(select(Hospital).where(Hospital.slug == hospital_slug))
                if own is None or own.id != actor.hospital_id:
                    raise NotAllowed('Administrators create accounts in their own hospital only.')
                hospital = own
            wards = []
            for name in ward_names:
                ward = await session.scalar(select(Ward).where(Ward.hospital_id == hospital.id, Ward.name == name))
                if ward is None:
                    raise WardNotFound(f'No ward named "{name}" in {hospital.name}.')
                wards.append(ward)
            now = self._clock()
            user = User(hospital_id=hospital.id, username=username, display_name=display_name or username,
                        role=role, password_hash=password_hash, active=True,
                        password_changed_at=now, created_at=now, wards=wards)
            await add_unique(session, user, f'The username "{username}" is taken.')
            view = user_view(user)
            await uow.commit()
            return view

    async def authenticate(self, username: str, password: str, *, address: str) -> UserView:
        """Return the user for valid credentials from the client at `address`; every refusal answers alike.

        An unknown or disabled username, a wrong password and a throttled attempt take the same steps (one user
        query, one throttle transaction, one password hash) and raise the same AuthenticationFailed, whose wait
        depends only on what was typed from where: nothing tells whether the account exists.
        """
        typed = typed_username(username)
        client = throttle_key(address)
        if not typed:  # no account has an empty name; nothing to count either
            await self._hasher.burn(password)
            raise AuthenticationFailed(INVALID_CREDENTIALS)
        async with self._db.read() as session:
            user = await session.scalar(
                select(User).options(selectinload(User.wards)).where(User.username == typed, User.active.is_(True)))
            found = (user_view(user), user.password_hash) if user is not None else None
        claim = await self._throttle.claim(typed, client, account_exists=found is not None)
        if claim.allowed and found is not None and await self._hasher.verify(password, found[1]):
            await self._throttle.succeeded(typed, client, claim)
            return found[0]
        if not (claim.allowed and found is not None):
            await self._hasher.burn(password)
        raise AuthenticationFailed(refusal_message(claim.wait_seconds))

    async def change_password(self, actor: Actor, current: str, new: str) -> None:
        """Change the signed-in user's own password after checking the current one."""
        if actor.kind != 'user' or actor.user_id is None:
            raise NotAllowed('Only a signed-in user can change their password.')
        check_password_policy(new)
        if new == current:
            raise InvalidInput('The new password must differ from the current one.')
        async with self._db.read() as session:
            user = await session.get(User, actor.user_id)
            if user is None:
                raise UserNotFound('Your account no longer exists.')
            stored = user.password_hash
        if not await self._hasher.verify(current, stored):
            raise AuthenticationFailed('The current password is wrong.')
        new_hash = await self._hasher.hash(new)
        async with self._db.uow() as uow:
            user = await uow.session.get(User, actor.user_id)
            if user is None or user.password_hash != stored:
                raise AuthenticationFailed('The password was changed meanwhile; sign in again.')
            user.password_hash = new_hash
            user.password_changed_at = self._clock()
            await uow.commit()

    async def list_users(self, actor: Actor) -> list[UserView]:
        """Return the staff accounts of the actor's hospital (administrators only)."""
        if actor.kind != 'user' or actor.role is not Role.ADMIN or actor.hospital_id is None:
            raise NotAllowed('Only an administrator can list the staff accounts.')
        async with self._db.read() as session:
            users = await session.scalars(select(User).options(selectinload(User.wards))
                                          .where(User.hospital_id == actor.hospital_id).order_by(User.username))
            return [user_view(u) for u in users]

    async def session_user(self, user_id: int, signed_in_at: datetime) -> UserView | None:
        """Return the user of a browser session, or None when the account is gone, disabled or signed out."""
        async with self._db.read() as session:
            user = await session.scalar(select(User).options(selectinload(User.wards)).where(User.id == user_id))
            if user is None or not user.active:
                return None
            if user.sessions_revoked_at is not None and signed_in_at <= user.sessions_revoked_at:
                return None
            return user_view(user)

    async def end_all_sessions(self, actor: Actor) -> None:
        """Sign the actor out on every device: sessions that began before now stop being valid."""
        if actor.kind != 'user' or actor.user_id is None:
            raise NotAllowed('Only a signed-in user can end their sessions.')
        async with self._db.uow() as uow:
            user = await uow.session.get(User, actor.user_id)
            if user is None:
                raise UserNotFound('Your account no longer exists.')
            user.sessions_revoked_at = self._clock()
            await uow.commit()

    async def find(self, actor: Actor, username: str) -> UserView:
        """Return the account with this username in the actor's hospital (other hospitals' accounts: not found)."""
        hospital_id = require_hospital(actor)
        if actor.kind != 'system' and actor.role is not Role.ADMIN:
            raise NotAllowed('Only an administrator of this hospital can look accounts up.')
        username = username.strip().lower()
        async with self._db.read() as session:
            user = await session.scalar(select(User).options(selectinload(User.wards))
                                        .where(User.username == username, User.hospital_id == hospital_id))
            if user is None:
                raise UserNotFound(f'No account "{username}" in this hospital.')
            return user_view(user)

    async def deactivate(self, actor: Actor, user_id: int, *, reason: str) -> UserView:
        """Deactivate an account: it can no longer sign in, and its open pages on every process leave at once.

        Administrators of the account's hospital (or the operator CLI for a named hospital) may; never their own
        account, nor the last active administrator of the hospital. API tokens are separate and stay as they are.
        """
        return await self._set_active(actor, user_id, active=False, reason=checked_reason(reason, 'deactivated'))

    async def reactivate(self, actor: Actor, user_id: int, *, reason: str) -> UserView:
        """Let a deactivated account sign in again; sign-ins from before the deactivation stay ended."""
        return await self._set_active(actor, user_id, active=True, reason=checked_reason(reason, 'reactivated'))

    async def _set_active(self, actor: Actor, user_id: int, *, active: bool, reason: str) -> UserView:
        verb = 'reactivate' if active else 'deactivate'
        if actor.kind == 'token' or (actor.kind == 'user' and actor.role is not Role.ADMIN):
            raise NotAllowed(f'Only an administrator of this hospital can {verb} accounts.')
        hospital_id = require_hospital(actor)
        async with self._db.uow() as uow:
            session = uow.session
            # Serialises account changes of one hospital (PostgreSQL; SQLite writers take turns anyway), so two
            # administrators deactivating each other cannot leave the hospital without one.
            await session.scalar(select(Hospital.id).where(Hospital.id == hospital_id).with_for_update())
            if actor.kind == 'user':
                # The acting administrator as the database has them now: a role taken away counts at once.
                acting = None if actor.user_id is None else await session.get(User, actor.user_id)
                if acting is None or not acting.active or acting.role != Role.ADMIN \
                        or acting.hospital_id != hospital_id:
                    raise NotAllowed(f'Only an administrator of this hospital can {verb} accounts.')
            user = await session.scalar(select(User).options(selectinload(User.wards)).where(User.id == user_id))
            if user is None or user.hospital_id != hospital_id:
                raise UserNotFound(f'No account {user_id} in this hospital.')
            if user.active == active:
                raise Conflict(f'The account "{user.username}" is already {"active" if active else "deactivated"}.')
            if not active and actor.kind == 'user' and user.id == actor.user_id:
                raise NotAllowed('You cannot deactivate your own account: ask another administrator.')
            if not active and user.role == Role.ADMIN:
                others = await session.scalar(select(func.count()).select_from(User).where(
                    User.hospital_id == hospital_id, User.role == Role.ADMIN, User.active.is_(True),
                    User.id != user.id))
                if not others:
                    raise NotAllowed(f'"{user.username}" is the last active administrator of this hospital: '
                                     'make another account an administrator first.')
            user.active = active
            if not active:
                # Every sign-in so far ends for good: reactivating later does not bring an old session back.
                user.sessions_revoked_at = self._clock()
            view = user_view(user)
            await uow.commit()
        log.info('account %s (%d) of hospital %d %sd by %s: %s', view.username, view.id, hospital_id, verb,
                    actor.name, reason, extra={'event': f'account.{verb}d', 'hospital_id': hospital_id,
                                               'user_id': view.id, 'by': actor.name, 'reason': reason})
        if not active:
            await self._announce(hospital_id, view.id, AccountChange.DEACTIVATED)
        return view

    async def _announce(self, hospital_id: int, user_id: int, change: AccountChange) -> None:
        # After the commit: a page that re-reads the account on this signal sees the change.
        try:
            await self._bus.signal(ACCOUNT_CHANGED, hospital_id=hospital_id, user_id=user_id, reason=change.value)
        except Exception:
            # Committed all the same; each server's account watch finds the change within seconds.
            log.exception('could not announce the %s of account %d', change.value, user_id)

    async def account_states(self, user_ids: Collection[int]) -> list[AccountState]:
        """Return what open pages of these users depend on (accounts that no longer exist are left out)."""
        if not user_ids:
            return []
        async with self._db.read() as session:
            users = await session.scalars(select(User).options(selectinload(User.wards))
                                          .where(User.id.in_(sorted(user_ids))))
            return [AccountState(user_id=u.id, hospital_id=u.hospital_id, active=u.active, role=Role(u.role),
                                 ward_ids=tuple(w.id for w in u.wards), sessions_revoked_at=u.sessions_revoked_at)
                    for u in users]
