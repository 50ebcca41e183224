"""Unit of work: one session, one transaction, and the events it produced, published only after commit."""

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from types import TracebackType
from typing import Protocol, cast, runtime_checkable

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.clock import Clock
from app.events import BaseEvent, EventBus
from app.events.models import to_json
from data.models import EventLogEntry, Hospital
from data.queries import BulkInsert
from data.types import JsonText

log = logging.getLogger(__name__)
EVENT_LOG = cast(Table, EventLogEntry.__table__)
HOSPITALS = cast(Table, Hospital.__table__)
# Built once (Core, bound parameters): every commit that emits events runs these two.
LOG_EVENTS = BulkInsert({'sqlite': insert(EVENT_LOG), 'postgresql': insert(EVENT_LOG)},
                        ('hospital_id', 'seq', 'type', 'payload', 'created_at'))
TAKE_SEQS = (update(HOSPITALS).where(HOSPITALS.c.id == bindparam('hospital'))
             .values(event_seq=HOSPITALS.c.event_seq + bindparam('count')).returning(HOSPITALS.c.event_seq))

# Called inside the transaction, just before the commit, with the numbered events of that unit of work.
CommitHook = Callable[[AsyncSession, Sequence[BaseEvent]], Awaitable[None]]


@runtime_checkable
class RollbackAware(Protocol):
    """A commit hook that remembers having written its rows: told to forget when that transaction was rolled back
    (a shared ingest transaction that failed), so that the next attempt writes them again."""

    def forget(self) -> None: ...
# NOTE: set per request by app/services/idempotency.py, so an idempotency record commits atomically with the write.
commit_hook: ContextVar[CommitHook | None] = ContextVar('vigil_commit_hook', default=None)


# Writers that waited longer than this for their turn are counted, and reported at most once per REPORT_SECONDS (a
# stalled event loop makes hundreds wait at once).
SLOW_TURN_SECONDS = 2.0
REPORT_SECONDS = 60.0


class NestedWrite(RuntimeError):
    """A task that holds the write turn began another unit of work: it would wait for itself forever."""


class WriterQueue:
    """Lets the units of work of this process write one at a time, in arrival order (SQLite has one writer).

    SQLite lets one connection write at a time; the others poll for its lock from their driver threads until the busy
    timeout fails them with "database is locked". A write transaction held open while the event loop stalls (it needs
    the loop for every statement) kept every other writer of the process polling until that happened: readings, an
    acknowledgement, an escalation step lost. Waiting here costs nothing while waiting, has no time limit and hands
    the turn on at once; the busy timeout is left to other processes on the same file (the CLI).
    NOTE: a unit of work must never wait for another one (nested in the same task: refused here; a task it started,
    or GroupCommit.write): that would wait forever. Its waits are statements, hooks and CPU; publishing comes after.
    """

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[object] | None = None
        self._slow = 0  # writers that waited long since the last report, and the longest wait among them
        self._longest = 0.0
        self._reported_at = -REPORT_SECONDS

    async def take_turn(self) -> None:
        """Wait until no other unit of work of this process is open for writing; refuse a nested one at once."""
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            raise NestedWrite('a unit of work was begun inside another one of the same task; SQLite has one writer, '
                              'so it would wait for itself: finish the first one before beginning the next')
        started = time.monotonic()
        await self._lock.acquire()
        self._holder = task
        now = time.monotonic()
        if now - started > SLOW_TURN_SECONDS:
            self._slow += 1
            self._longest = max(self._longest, now - started)
            if now - self._reported_at >= REPORT_SECONDS:
                log.warning('%d writes waited over %.0f s for their turn (the longest %.1f s): write transactions are '
                            'held open long, as while the event loop stalls', self._slow, SLOW_TURN_SECONDS,
                            self._longest)
                self._slow, self._longest, self._reported_at = 0, 0.0, now

    def end_turn(self) -> None:
        """Let the next unit of work write."""
        self._holder = None
        self._lock.release()


class UnitOfWork:
    """Use as `async with uow_factory() as uow: ...; await uow.commit()`; leaving without commit rolls back."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], bus: EventBus, clock: Clock,
                 publish_lock: asyncio.Lock, hooks: Sequence[CommitHook] = (),
                 writers: WriterQueue | None = None) -> None:
        self._sessions = sessions
        self._hooks = hooks
        self._bus = bus
        self._clock = clock
        self._publish_lock = publish_lock
        self._writers = writers
        self._has_turn = False
        self._events: list[BaseEvent] = []
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        assert self._session is not None, 'unit of work used outside its async with block'
        return self._session

    async def __aenter__(self) -> 'UnitOfWork':
        if self._writers is not None:
            await self._writers.take_turn()
            self._has_turn = True
        self._session = self._sessions()
        self._events = []
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        session, self._session = self.session, None
        try:
            await session.rollback()  # no-op after a commit; undoes everything otherwise
        finally:
            self._events = []
            try:
                await session.close()
            finally:
                self._end_turn()  # only now: the database's write lock is released

    def _end_turn(self) -> None:
        if self._has_turn:
            self._has_turn = False
            assert self._writers is not None
            self._writers.end_turn()

    @property
    def queued(self) -> int:
        """Return how many events are queued (a position for emit_at)."""
        return len(self._events)

    def emit_at(self, position: int, events: Sequence[BaseEvent]) -> None:
        """Queue events before those queued since `position` (readings before the alerts they caused)."""
        self._events[position:position] = events

    def queued_since(self, position: int) -> list[BaseEvent]:
        """Return the events queued since `position`."""
        return self._events[position:]

    def requeue_since(self, position: int, events: Sequence[BaseEvent]) -> None:
        """Replace the events queued since `position` by these (the same ones, put in another order)."""
        self._events[position:] = events

    def emit(self, event: BaseEvent) -> None:
        """Queue an event; it gets its sequence number at commit and is published only if the commit succeeds."""
        self._events.append(event)

    async def commit(self, hook: CommitHook | None = None) -> list[BaseEvent]:
        """Number and log the queued events, commit, then publish them in order; return what was published.

        `hook` runs inside the transaction just before the commit; without one, the request's commit_hook does.
        """
        events, payloads = await self._number_and_log(self._events)
        if events:
            for each in self._hooks:  # e.g. the webhook outbox: its rows commit with the events, or not at all
                await each(self.session, events)
        if hook is not None or (hook := commit_hook.get()) is not None:
            await hook(self.session, events)
        # NOTE: sequence numbers are taken under the hospital row's write lock, so commits of one hospital happen in
        # sequence order; publishing under one lock per process keeps publication in that order too.
        async with self._publish_lock:
            await self.session.commit()  # the session hands its connection back: the write lock is released
            self._end_turn()  # the next writer need not wait for the publication
            self._events = []
            for event, payload in zip(events, payloads, strict=True):
                try:
                    await self._bus.publish(event, payload)
                except Exception:
                    # The change is committed and in the event log; pages resync from the database.
                    log.exception('could not publish %s seq %d of hospital %d', type(event).__name__, event.seq,
                                  event.hospital_id)
        return events

    async def _number_and_log(self, events: list[BaseEvent]) -> tuple[list[BaseEvent], list[str]]:
        """Number the events and write them to the event log; return them with their JSON (published as it is)."""
        if not events:
            return [], []
        by_hospital: dict[int, list[int]] = defaultdict(list)
        for index, event in enumerate(events):
            by_hospital[event.hospital_id].append(index)
        numbered: list[BaseEvent] = list(events)
        now = self._clock()
        connection = await self.session.connection()  # Core: the hospital row is not loaded in this session
        # Hospitals in id order: two transactions that number events of the same hospitals lock their rows in one order.
        for hospital_id, indexes in sorted(by_hospital.items()):
            last = (await connection.execute(TAKE_SEQS, {'hospital': hospital_id, 'count': len(indexes)})).scalar_one()
            for offset, index in enumerate(indexes):
                numbered[index] = events[index].model_copy(update={'seq': last - len(indexes) + 1 + offset})
        # One executemany of plain tuples (the ORM's bulk path and SQLAlchemy's parameter dicts only add bookkeeping
        # here). Each payload is serialised once, by pydantic (what event_payload returns, as JSON text).
        payloads = [to_json(e) for e in numbered]
        await LOG_EVENTS.execute(connection, [
            (e.hospital_id, e.seq, type(e).__name__, JsonText(payload), now)
            for e, payload in zip(numbered, payloads, strict=True)])
        return numbered, payloads


class Database:
    """Hands out units of work (writes) and read-only sessions; one per process, built by bootstrap."""

    def __init__(self, writer: async_sessionmaker[AsyncSession], reader: async_sessionmaker[AsyncSession],
                 bus: EventBus, clock: Clock, *, one_writer: bool = False) -> None:
        """`one_writer`: the database lets one transaction write at a time (SQLite), so units of work take turns
        (WriterQueue); readers never do."""
        self._writer = writer
        self._writers = WriterQueue() if one_writer else None
        self._hooks: list[CommitHook] = []
        self.read = reader
        self._bus = bus
        self._clock = clock
        self._publish_lock = asyncio.Lock()

    def uow(self) -> UnitOfWork:
        """Start a unit of work for one use case."""
        return UnitOfWork(self._writer, self._bus, self._clock, self._publish_lock, self._hooks, self._writers)

    def before_commit(self, hook: CommitHook) -> None:
        """Run hook inside every writing transaction that emits events, after they are numbered and logged."""
        self._hooks.append(hook)
