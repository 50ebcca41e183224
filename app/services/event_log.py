"""Reading the durable event log: what a hospital's event stream sent while a client was away."""

from collections.abc import Sequence

from pydantic import JsonValue
from sqlalchemy import select

from app.clock import Clock
from app.schemas import Actor, View
from app.uow import Database
from data.models import EventLogEntry, Hospital

from .common import require_hospital

MAX_BATCH = 500


class LoggedEvent(View):
    """One event as the unit of work logged it: its per-hospital sequence number, type and JSON payload."""

    seq: int
    type: str
    payload: JsonValue


class EventLogService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def last_seq(self, actor: Actor) -> int:
        """Return the sequence number of the actor's hospital's newest committed event (0 before the first)."""
        hospital_id = require_hospital(actor)
        async with self._db.read() as session:
            return int(await session.scalar(select(Hospital.event_seq).where(Hospital.id == hospital_id)) or 0)

    async def after(self, actor: Actor, seq: int, *, until: int | None = None, types: Sequence[str] = (),
                    limit: int = MAX_BATCH) -> list[LoggedEvent]:
        """Return up to limit events of the actor's hospital numbered above seq (up to until), oldest first."""
        hospital_id = require_hospital(actor)
        statement = (select(EventLogEntry.seq, EventLogEntry.type, EventLogEntry.payload)
                     .where(EventLogEntry.hospital_id == hospital_id, EventLogEntry.seq > seq)
                     .order_by(EventLogEntry.seq).limit(limit))
        if until is not None:
            statement = statement.where(EventLogEntry.seq <= until)
        if types:
            statement = statement.where(EventLogEntry.type.in_(list(types)))
        async with self._db.read() as session:
            rows = (await session.execute(statement)).all()
        return [LoggedEvent(seq=row.seq, type=row.type, payload=row.payload) for row in rows]
