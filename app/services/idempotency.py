"""Idempotency keys: a retried request with the same key gets the stored answer instead of a second write.

The record is written inside the transaction of the write it answers (through the unit of work's commit hook), so
there is never a write without its record nor a record without its write. Of two concurrent requests with one key,
the second one's transaction hits the primary key and rolls back whole; it is then answered from the record.
"""

import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, cast

from pydantic import JsonValue
from sqlalchemy import Table, bindparam, delete, insert, select, tuple_
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.clock import Clock
from app.errors import Conflict, InvalidInput
from app.events import BaseEvent
from app.schemas import View
from app.uow import Database, commit_hook
from data.models import IdempotencyKey

log = logging.getLogger(__name__)

KEY_TTL = timedelta(hours=24)
MAX_KEY_LENGTH = 200
PURGE_INTERVAL = timedelta(minutes=10)


# Core statements on the table, built once: a keyed request runs all three (the ORM adds only bookkeeping here).
KEYS = cast(Table, IdempotencyKey.__table__)
LOOKUP = (select(KEYS.c.created_at, KEYS.c.request_hash, KEYS.c.status_code, KEYS.c.response)
          .where(KEYS.c.token_id == bindparam('token'), KEYS.c.key == bindparam('the_key')))
# The keys of several requests, looked up in the write transaction that would answer them (see look_up_in_write).
LOOKUP_MANY = (select(KEYS.c.token_id, KEYS.c.key, KEYS.c.created_at, KEYS.c.request_hash, KEYS.c.status_code,
                      KEYS.c.response)
               .where(tuple_(KEYS.c.token_id, KEYS.c.key).in_(bindparam('keys', expanding=True))))
DELETE_EXPIRED = delete(KEYS).where(KEYS.c.token_id == bindparam('token'), KEYS.c.key == bindparam('the_key'),
                                    KEYS.c.created_at < bindparam('before'))
INSERT_RECORD = insert(KEYS)


class StoredResponse(View):
    """The answer given to the first request with a key, repeated to every retry."""

    status_code: int
    body: JsonValue


# Builds the response from the events a commit is about to publish; None means "not the commit I am waiting for".
Responder = Callable[[Sequence[BaseEvent]], StoredResponse | None]


class IdempotencyKeyReused(InvalidInput):
    """The key was already used for a different request."""


class DuplicateRequest(Conflict):
    """A request with the same key committed first, while this one was running."""


class AlreadyAnswered(DuplicateRequest):
    """The write transaction found the key's answer stored: nothing was written, that answer is repeated."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__('A request with this Idempotency-Key was answered before; this one changed nothing.')
        self.stored = stored


def canonical_body(body: bytes) -> bytes:
    """Return a JSON body re-serialised with sorted keys and no spaces, or the body itself if it is not JSON."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return body
    return json.dumps(parsed, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode()


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """Return the hash that tells whether a retry is the same request: method, path and the body's JSON meaning.

    A JSON body counts by what it says, not how it is spelled: the same readings with other whitespace or key order
    are the same request (a client library that re-serialises on retry must not get a 422). A body that is not JSON
    counts byte for byte.
    """
    digest = hashlib.sha256(f'{method.upper()} {path}\n'.encode())
    digest.update(canonical_body(body))
    return digest.hexdigest()


def check_key(key: str) -> str:
    """Return a usable Idempotency-Key or raise InvalidInput."""
    if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(f'An Idempotency-Key has 1-{MAX_KEY_LENGTH} printable characters.')
    return key


class PendingRecord:
    """The commit hook of one request: stores the response alongside the first commit that produces one."""

    def __init__(self, *, token_id: int, hospital_id: int, key: str, request_hash: str, respond: Responder,
                 clock: Clock, look_up_in_write: bool = False) -> None:
        self._token_id = token_id
        self._hospital_id = hospital_id
        self._key = key
        self._request_hash = request_hash
        self._respond = respond
        self._clock = clock
        self.stored: StoredResponse | None = None
        # The key was not looked up before the write: the write transaction looks it up (answered_in_write) and
        # answers a retry from the record instead of writing.
        self.look_up_in_write = look_up_in_write
        self._row_found: bool | None = None  # whether that look-up found a row of the key (None: not looked up)

    async def __call__(self, session: AsyncSession, events: Sequence[BaseEvent]) -> None:
        if self.stored is not None:
            return
        response = self._respond(events)
        if response is None:
            return
        now = self._clock()
        # An expired record of the same key is replaced rather than clashed with (unless this transaction found none).
        if self._row_found is not False:
            await session.execute(DELETE_EXPIRED, {'token': self._token_id, 'the_key': self._key,
                                                   'before': now - KEY_TTL})
        try:
            await session.execute(INSERT_RECORD, {
                'token_id': self._token_id, 'key': self._key, 'hospital_id': self._hospital_id,
                'request_hash': self._request_hash, 'status_code': response.status_code, 'response': response.body,
                'created_at': now})
        except IntegrityError as error:
            raise DuplicateRequest(f'A request with the Idempotency-Key "{self._key}" was accepted at the same '
                                   'moment; this one changed nothing.') from error
        self.stored = response

    def forget(self) -> None:
        """Forget the answer stored by a transaction that was then rolled back (it is written again)."""
        self.stored = None
        self._row_found = None

    @property
    def identity(self) -> tuple[int, str]:
        """The record's primary key: (token id, key)."""
        return self._token_id, self._key

    def answer(self, row: Any) -> StoredResponse | None:
        """Return the answer stored for this key (its row, looked up in the write transaction), as stored_answer
        does."""
        self._row_found = row is not None
        return stored_answer(row, self._key, self._request_hash, self._clock())


def stored_answer(row: Any, key: str, request_hash: str, now: datetime) -> StoredResponse | None:
    """Return the answer stored in a key's row, None if there is none (or it expired); refuse a key used for a
    different request."""
    if row is None or row.created_at < now - KEY_TTL:
        return None
    if row.request_hash != request_hash:
        raise IdempotencyKeyReused(
            f'The Idempotency-Key "{key}" was already used for a different request; '
            'send a new key with a new request.')
    body: Any = row.response
    return StoredResponse(status_code=row.status_code, body=body)


async def answered_in_write(session: AsyncSession, records: Sequence[PendingRecord]
                            ) -> dict[PendingRecord, DuplicateRequest | IdempotencyKeyReused]:
    """Look up the keys of requests that did not look them up before their write, in that write's transaction (one
    statement for all); return what each request whose key is taken gets instead of its write: AlreadyAnswered with
    the stored answer, or IdempotencyKeyReused."""
    if not records:
        return {}
    rows = {(row.token_id, row.key): row for row in await session.execute(
        LOOKUP_MANY, {'keys': sorted({record.identity for record in records})})}
    answered: dict[PendingRecord, DuplicateRequest | IdempotencyKeyReused] = {}
    for record in records:
        try:
            stored = record.answer(rows.get(record.identity))
        except IdempotencyKeyReused as reused:
            answered[record] = reused
            continue
        if stored is not None:
            answered[record] = AlreadyAnswered(stored)
    return answered


class IdempotencyService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._last_purge: datetime | None = None

    async def lookup(self, token_id: int, key: str, request_hash: str) -> StoredResponse | None:
        """Return the stored answer to this key, None if there is none (or it expired); refuse a reused key."""
        await self.purge_now_and_then()
        async with self._db.read() as session:
            row = (await session.execute(LOOKUP, {'token': token_id, 'the_key': key})).one_or_none()
        return stored_answer(row, key, request_hash, self._clock())

    @contextmanager
    def recording(self, *, token_id: int, hospital_id: int, key: str, request_hash: str,
                  respond: Responder, look_up_in_write: bool = False) -> Iterator[PendingRecord]:
        """Within this block, the first commit whose events respond() answers also stores that answer.

        `look_up_in_write`: the key was not looked up first; a write that supports it (the group commit of readings)
        looks it up in its own transaction and raises AlreadyAnswered or IdempotencyKeyReused instead of writing.
        """
        pending = PendingRecord(token_id=token_id, hospital_id=hospital_id, key=key, request_hash=request_hash,
                                respond=respond, clock=self._clock, look_up_in_write=look_up_in_write)
        reset = commit_hook.set(pending)
        try:
            yield pending
        finally:
            commit_hook.reset(reset)

    async def purge_expired(self) -> int:
        """Delete the records older than the key lifetime; return how many went."""
        async with self._db.uow() as uow:
            result = await uow.session.execute(
                delete(IdempotencyKey).where(IdempotencyKey.created_at < self._clock() - KEY_TTL))
            await uow.commit()
        return int(getattr(result, 'rowcount', 0) or 0)

    async def purge_now_and_then(self) -> None:
        """Purge expired records if the last purge was more than PURGE_INTERVAL ago (keyed requests call it)."""
        now = self._clock()
        if self._last_purge is not None and now - self._last_purge < PURGE_INTERVAL:
            return
        self._last_purge = now
        try:
            await self.purge_expired()
        except SQLAlchemyError:
            # Housekeeping only: a failed purge is retried on a later request.
            log.exception('could not purge expired idempotency keys')
