"""A patient's vital-sign trends for the patient page: each parameter's lowest and highest value per time bucket,
and the NEWS2 over time.

The device API pages through raw readings (app/services/history.py); a chart of the last hours needs the opposite:
a few hundred points whatever the reading rate (a monitor sends SpO2 every second, 20,000 readings in 6 hours).
The database folds the readings into buckets, keeping each bucket's minimum and maximum, so that a short
desaturation stays visible on the chart instead of being averaged away.
"""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from sqlalchemy import extract, func, select

from app.clock import Clock
from app.domain import VitalKind
from app.domain.news2 import NEWS2_PARAMETERS, sub_score
from app.domain.scope import AccessScope
from app.errors import InvalidInput
from app.schemas import Actor, View
from app.uow import Database
from data.models import VitalReading

from .common import patient_in, require_hospital

BUCKETS = 360
MAX_HOURS = 72
# A fitted window (see trend) spans at least this long, so that a few readings do not fill the chart edge to edge,
# and starts this share of its span before the first reading, so that the first values do not sit on the axis.
MIN_FIT_SPAN = timedelta(minutes=2)
FIT_LEAD = 0.05

Bucket = tuple[float, float]  # lowest and highest value of one parameter in one bucket


class TrendPoint(View):
    at: datetime  # start of the bucket
    low: float
    high: float


class News2Point(View):
    at: datetime  # start of the bucket
    total: int  # the worst NEWS2 the bucket's values give (see news2_over_time)


class VitalsTrend(View):
    patient_id: int
    hours: float  # the longest window asked for; a fitted trend starts later and grows towards it
    since: datetime
    until: datetime
    bucket_seconds: int
    series: dict[VitalKind, tuple[TrendPoint, ...]]
    news2: tuple[News2Point, ...]


def bucket_seconds_for(hours: float) -> int:
    """Return the bucket width that gives about BUCKETS points over the window."""
    return max(1, round(hours * 3600 / BUCKETS))


def worst_sub_score(kind: VitalKind, bucket: Bucket, spo2_scale: int, on_oxygen: float | None) -> int:
    """Return the highest NEWS2 points of any value between the bucket's lowest and highest value.

    Every NEWS2 band table falls towards its normal range and rises beyond it, so the worst value of an interval
    is one of its ends.
    """
    low, high = bucket
    return max(sub_score(kind, low, spo2_scale, on_oxygen), sub_score(kind, high, spo2_scale, on_oxygen))


def news2_over_time(buckets: Mapping[VitalKind, Mapping[int, Bucket]], before: Mapping[VitalKind, float],
                    spo2_scale: int) -> list[tuple[int, int]]:
    """Return (bucket start, NEWS2) for every bucket with a reading, from the worst value of each parameter.

    A parameter without a reading in a bucket keeps its score from the bucket where it was last measured (or its
    last value before the window), as the chart keeps a value until the next observation.
    """
    current: dict[VitalKind, Bucket] = {kind: (value, value) for kind, value in before.items()}
    totals = []
    for start in sorted({start for per_kind in buckets.values() for start in per_kind}):
        for kind, per_kind in buckets.items():
            if start in per_kind:
                current[kind] = per_kind[start]
        # Supplemental oxygen at any time in the bucket counts: it scores itself and selects the scale 2 bands.
        oxygen = current[VitalKind.ON_OXYGEN][1] if VitalKind.ON_OXYGEN in current else None
        total = sum(worst_sub_score(kind, current[kind], spo2_scale, oxygen)
                    for kind in NEWS2_PARAMETERS if kind in current)
        totals.append((start, total))
    return totals


class VitalsHistoryService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def trend(self, actor: Actor, patient_id: int, hours: float = 6, *, fit: bool = False) -> VitalsTrend:
        """Return the patient's trends over the last hours, if the actor may open the patient.

        With `fit`, the window starts shortly before the patient's first reading within those hours (spanning at
        least MIN_FIT_SPAN), so that a patient monitored for minutes fills the chart instead of its right edge.
        """
        if not 0 < hours <= MAX_HOURS:
            raise InvalidInput(f'A trend covers more than 0 and at most {MAX_HOURS} hours.')
        hospital_id = require_hospital(actor)
        until = self._clock()
        window = timedelta(hours=hours)
        async with self._db.read() as session:
            patient = await patient_in(session, hospital_id, patient_id)
            AccessScope.of(actor).check_patient(hospital_id, patient.ward_id, patient_id)
            spo2_scale = patient.spo2_scale
            if fit:
                oldest = await session.scalar(
                    select(func.min(VitalReading.measured_at))
                    .where(VitalReading.patient_id == patient_id, VitalReading.measured_at >= until - window))
                if oldest is not None:
                    window = min(window, max(MIN_FIT_SPAN, (until - oldest) * (1 + FIT_LEAD)))
            width = bucket_seconds_for(window.total_seconds() / 3600)
            first = int((until - window).timestamp()) // width * width
            since = datetime.fromtimestamp(first, UTC)
            epoch = extract('epoch', VitalReading.measured_at)
            start = (epoch - epoch % width).label('start')
            rows = (await session.execute(
                select(VitalReading.kind, start, func.min(VitalReading.value), func.max(VitalReading.value))
                .where(VitalReading.patient_id == patient_id, VitalReading.measured_at >= since)
                .group_by(VitalReading.kind, start))).all()
            before: dict[VitalKind, float] = {}
            for kind in NEWS2_PARAMETERS:
                value = await session.scalar(
                    select(VitalReading.value)
                    .where(VitalReading.patient_id == patient_id, VitalReading.kind == kind.value,
                           VitalReading.measured_at < since)
                    .order_by(VitalReading.measured_at.desc()).limit(1))
                if value is not None:
                    before[kind] = value
        buckets: dict[VitalKind, dict[int, Bucket]] = {}
        for kind_name, bucket_start, low, high in rows:
            buckets.setdefault(VitalKind(kind_name), {})[int(bucket_start)] = (float(low), float(high))

        def at(seconds: int) -> datetime:
            return datetime.fromtimestamp(seconds, UTC)

        return VitalsTrend(
            patient_id=patient_id, hours=hours, since=since, until=until, bucket_seconds=width,
            series={kind: tuple(TrendPoint(at=at(s), low=low, high=high) for s, (low, high) in sorted(b.items()))
                    for kind, b in buckets.items()},
            news2=tuple(News2Point(at=at(s), total=total)
                        for s, total in news2_over_time(buckets, before, spo2_scale)),
        )
