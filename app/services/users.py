"""Staff accounts: create, sign in (throttled: app/services/sign_in_throttle.py), change password."""

import re
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from app.client_address import throttle_key
from app.clock import Clock
from app.domain import Role
from app.domain.text import check_one_line
from app.domain.throttle import typed_username
from app.errors import (
    AuthenticationFailed,
    InvalidInput,
    NotAllowed,
    UserNotFound,
    WardNotFound,
)
from app.schemas import Actor, UserView
from app.security import MIN_PASSWORD_LENGTH, PasswordHasher
from app.uow import Database
from data.models import Hospital, User, Ward

from .common import add_unique, hospital_by_slug
from .sign_in_throttle import SignInThrottleService

USERNAME = re.compile(r'^[a-z0-9][a-z0-9._-]{1,63}$')
INVALID_CREDENTIALS = 'Unknown username or wrong password.'


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


class UserService:
    def __init__(self, db: Database, clock: Clock, hasher: PasswordHasher, throttle: SignInThrottleService) -> None:
        self._db = db
        self._clock = clock
        self._hasher = hasher
        self._throttle = throttle

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
