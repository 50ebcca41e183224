"""Alert load and response times of one scope: what the dashboard's overview shows and the hospital audits."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from statistics import median

from sqlalchemy import ColumnElement, func, select

from app.clock import Clock
from app.domain import OPEN_STATUSES, Priority
from app.domain.scope import AccessScope
from app.schemas import Actor, MetricsView
from app.uow import Database
from data.models import Alert, Patient

from .alerts import waiting_clause
from .common import require_hospital
from .scope_sql import alerts_in, patients_in

RESPONSE_WINDOW = timedelta(hours=24)
RECENT_WINDOW = timedelta(hours=1)


def median_seconds(pairs: Iterable[tuple[datetime, datetime]]) -> float | None:
    """Return the median of end - start in seconds, or None when there is nothing to measure."""
    durations = [(end - start).total_seconds() for start, end in pairs]
    return median(durations) if durations else None


class MetricsService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def overview(self, actor: Actor) -> MetricsView:
        """Return the alert load and response times of the alerts and patients in the actor's scope."""
        hospital_id = require_hospital(actor)
        now = self._clock()
        since = now - RESPONSE_WINDOW
        scope = AccessScope.of(actor)
        in_scope: ColumnElement[bool] = alerts_in(scope)
        open_counts = (select(Alert.priority, func.count()).where(in_scope, Alert.status.in_(OPEN_STATUSES))
                       .group_by(Alert.priority))
        acknowledged = select(Alert.created_at, Alert.acknowledged_at).where(in_scope, Alert.acknowledged_at >= since)
        resolved = select(Alert.created_at, Alert.resolved_at).where(in_scope, Alert.resolved_at >= since)
        recent = select(func.count()).select_from(Alert).where(in_scope, Alert.created_at >= now - RECENT_WINDOW)
        waiting = select(func.count()).select_from(Alert).where(in_scope, waiting_clause())
        patients = select(func.count()).select_from(Patient).where(patients_in(scope))
        async with self._db.read() as session:
            by_priority = {p: 0 for p in Priority}
            for priority, count in await session.execute(open_counts):
                by_priority[Priority(priority)] += count
            waiting_count = await session.scalar(waiting) or 0
            ack_times = [(a, b) for a, b in await session.execute(acknowledged) if b is not None]
            resolve_times = [(a, b) for a, b in await session.execute(resolved) if b is not None]
            raised_last_hour = await session.scalar(recent) or 0
            patients_monitored = await session.scalar(patients) or 0
        return MetricsView(
            hospital_id=hospital_id, computed_at=now, open_by_priority=by_priority, waiting=waiting_count,
            median_seconds_to_acknowledge=median_seconds(ack_times), acknowledged_last_24h=len(ack_times),
            median_seconds_to_resolve=median_seconds(resolve_times), resolved_last_24h=len(resolve_times),
            raised_last_hour=raised_last_hour, patients_monitored=patients_monitored)
