"""Sign-in throttling shared by every process through the database (the policy is app/domain/throttle.py).

Every attempt first claims its right to test a password in one short transaction: if a scope is blocked the
attempt is refused untested; otherwise it is counted as a failure right away and the count is given back if the
password was right. Counting first is what makes parallel attempts wait for each other: with the rows locked
only around the count, never around the (slow) password hash, a burst of simultaneous guesses cannot all slip
through before the first one is counted.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import Table, and_, delete, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from app.client_address import UNKNOWN, throttle_key
from app.clock import Clock
from app.domain import Role
from app.domain.throttle import (
    FORGET_AFTER,
    KNOWN_ADDRESS_FOR,
    POLICIES,
    ThrottleScope,
    typed_username,
    wait_seconds,
)
from app.errors import InvalidInput, NotAllowed, NotFound
from app.schemas import Actor, ThrottleView
from app.uow import Database
from data.models import SignInThrottle as Throttle
from data.models import User

log = logging.getLogger(__name__)
THROTTLES = cast(Table, Throttle.__table__)
ANY = ''  # NOTE: the empty username or address of a row means "any" (data/models.py SignInThrottle)
Key = tuple[str, str]


@dataclass(frozen=True)
class Claim:
    """The outcome of claiming one attempt: whether its password may be tested, and how long to wait after it."""

    allowed: bool
    wait_seconds: int
    # For giving the count back after a right password: each counted key and the block it set (None: none).
    counted: dict[Key, datetime | None] = field(default_factory=dict)


def _keys(username: str, address: str) -> dict[ThrottleScope, Key]:
    return {ThrottleScope.PAIR: (username, address), ThrottleScope.ADDRESS: (ANY, address),
            ThrottleScope.ACCOUNT: (username, ANY)}


def _scope(username: str, address: str) -> ThrottleScope:
    if not username:
        return ThrottleScope.ADDRESS
    return ThrottleScope.ACCOUNT if not address else ThrottleScope.PAIR


class SignInThrottleService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def claim(self, username: str, address: str, *, account_exists: bool) -> Claim:
        """Refuse the attempt if a scope is blocked; otherwise count it as a failure (`succeeded` gives it back).

        `account_exists` only decides what the log names; the throttle itself never depends on it.
        """
        now = self._clock()
        keys = _keys(username, address)
        async with self._db.uow() as uow:
            connection = await uow.session.connection()
            rows = await self._lock_rows(connection, sorted(keys.values()), now)
            pair = rows[keys[ThrottleScope.PAIR]]
            known_address = pair.signed_in_at is not None and pair.signed_in_at > now - KNOWN_ADDRESS_FOR
            # From an address where this account signed in before, nobody elsewhere can make it wait.
            scopes = [s for s in keys if not (known_address and s is ThrottleScope.ACCOUNT)]
            blocked = [keys[s] for s in scopes if (u := rows[keys[s]].blocked_until) is not None and u > now]
            if blocked:
                await connection.execute(update(THROTTLES).where(tuple_(THROTTLES.c.username, THROTTLES.c.address)
                                                                 .in_(blocked)).values(refused=THROTTLES.c.refused + 1))
                await uow.commit()
                until = max(u for k in blocked if (u := rows[k].blocked_until) is not None)
                return Claim(allowed=False, wait_seconds=wait_seconds(until, now))
            counted: dict[Key, datetime | None] = {}
            for scope in scopes:
                row, policy = rows[keys[scope]], POLICIES[scope]
                failures = policy.decayed(row.failures, row.counted_at, now) + 1
                wait = policy.wait(failures)
                counted[keys[scope]] = until = now + wait if wait else None
                await connection.execute(update(THROTTLES).where(THROTTLES.c.id == row.id).values(
                    failures=failures, counted_at=now, blocked_until=until, refused=0))
                if until is not None:
                    log.warning('sign-in throttled (%s) for %.1f s after %.1f failures', scope.value,
                                wait.total_seconds(), failures, extra={'event': 'auth.throttled', 'scope': scope.value,
                                                 'username': username if account_exists else '(no such account)',
                                                 'address': address, 'wait_seconds': wait.total_seconds()})
            await uow.commit()
        until = max((u for u in counted.values() if u is not None), default=None)
        return Claim(allowed=True, wait_seconds=wait_seconds(until, now), counted=counted)

    async def succeeded(self, username: str, address: str, claim: Claim) -> None:
        """Give back the failure a successful attempt was counted as; mark the address as known to the account."""
        now = self._clock()
        keys = _keys(username, address)
        async with self._db.uow() as uow:
            connection = await uow.session.connection()
            rows = await self._lock_rows(connection, sorted(keys.values()), now)
            for key, until in claim.counted.items():
                row = rows[key]
                values: dict[str, object] = {'failures': max(0.0, row.failures - 1)}
                if row.blocked_until == until:  # nobody counted a failure here since: lift the block this one set
                    values['blocked_until'] = None
                await connection.execute(update(THROTTLES).where(THROTTLES.c.id == row.id).values(**values))
            await connection.execute(update(THROTTLES).where(THROTTLES.c.id == rows[keys[ThrottleScope.PAIR]].id)
                                     .values(failures=0.0, counted_at=now, blocked_until=None, refused=0,
                                             signed_in_at=now))
            await uow.commit()

    async def _lock_rows(self, connection: AsyncConnection, keys: Sequence[Key], now: datetime) -> dict[Key, Row]:  # type: ignore[type-arg]
        """Make sure the rows of these keys exist and lock them (always in the same order: no deadlocks)."""
        await connection.execute(delete(THROTTLES).where(
            THROTTLES.c.counted_at < now - FORGET_AFTER,
            or_(THROTTLES.c.blocked_until.is_(None), THROTTLES.c.blocked_until < now),
            or_(THROTTLES.c.signed_in_at.is_(None), THROTTLES.c.signed_in_at < now - KNOWN_ADDRESS_FOR)))
        insert = postgresql.insert(THROTTLES) if connection.dialect.name == 'postgresql' else sqlite.insert(THROTTLES)
        await connection.execute(insert.on_conflict_do_nothing(index_elements=['username', 'address']), [
            {'username': u, 'address': a, 'failures': 0.0, 'counted_at': now, 'refused': 0} for u, a in keys])
        # SQLite: the insert above already holds the database's write lock; FOR UPDATE is PostgreSQL's row lock.
        result = await connection.execute(
            select(THROTTLES).where(tuple_(THROTTLES.c.username, THROTTLES.c.address).in_(keys))
            .order_by(THROTTLES.c.username, THROTTLES.c.address).with_for_update())
        return {(row.username, row.address): row for row in result}

    async def current(self, actor: Actor) -> list[ThrottleView]:
        """Return the throttles counting failures now: an admin sees their hospital's accounts and every address."""
        now = self._clock()
        async with self._db.read() as session:
            query = select(THROTTLES).where(or_(THROTTLES.c.failures > 0, THROTTLES.c.blocked_until > now))
            if actor.kind != 'system':
                _check_admin(actor)
                own = select(User.username).where(User.hospital_id == actor.hospital_id)
                query = query.where(or_(THROTTLES.c.username == ANY, THROTTLES.c.username.in_(own)))
            rows = (await session.execute(query)).all()
        views = []
        for row in rows:
            failures = POLICIES[_scope(row.username, row.address)].decayed(row.failures, row.counted_at, now)
            blocked = row.blocked_until if row.blocked_until is not None and row.blocked_until > now else None
            if failures < 0.05 and blocked is None:
                continue
            views.append(ThrottleView(username=row.username or None, address=row.address or None,
                                      failures=round(failures, 1), blocked_until=blocked, refused=row.refused))
        views.sort(key=lambda v: (v.blocked_until is None, -(v.blocked_until or now).timestamp(), -v.failures))
        return views

    async def clear(self, actor: Actor, *, username: str | None = None, address: str | None = None) -> int:
        """Forget the failures of an account (from everywhere), an address (for every account) or one pair.

        Returns how many counts were cleared. An admin clears their hospital's accounts and any address.
        """
        if actor.kind != 'system':
            _check_admin(actor)
        username = typed_username(username) if username else None
        if address:
            address = address.strip()
            address = throttle_key(address) if throttle_key(address) != UNKNOWN else address
        if not username and not address:
            raise InvalidInput('Name an account, an address, or both.')
        async with self._db.uow() as uow:
            session = uow.session
            if username and actor.kind != 'system':
                owner = await session.scalar(select(User.hospital_id).where(User.username == username))
                if owner != actor.hospital_id:
                    raise NotFound(f'No account "{username}" in your hospital.')
            if username and address:
                target = and_(THROTTLES.c.username == username, THROTTLES.c.address == address)
            elif username:
                target = THROTTLES.c.username == username
            else:
                target = THROTTLES.c.address == address
            result = await session.execute(update(THROTTLES).where(
                target, or_(THROTTLES.c.failures > 0, THROTTLES.c.blocked_until.is_not(None)))
                .values(failures=0.0, blocked_until=None, refused=0))
            await uow.commit()
        cleared = int(result.rowcount)  # type: ignore[attr-defined]
        log.info('sign-in throttle cleared by %s: account %s, address %s (%d counts)', actor.name, username or 'any',
                 address or 'any', cleared, extra={'event': 'auth.throttle_cleared', 'actor': actor.name,
                                                   'username': username, 'address': address, 'cleared': cleared})
        return cleared


def _check_admin(actor: Actor) -> None:
    if actor.kind != 'user' or actor.role is not Role.ADMIN or actor.hospital_id is None:
        raise NotAllowed('Only an administrator can see or clear sign-in throttles.')
