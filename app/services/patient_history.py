"""A patient's vital-sign history: the stored readings page by page, and the trends the patient page charts.

The device API pages through raw readings (`readings`); a chart of the last hours needs the opposite (`trend`): a
few hundred points whatever the reading rate (a monitor sends SpO2 every second, 20,000 readings in 6 hours). The
database folds the readings into buckets, keeping each bucket's minimum and maximum, so that a short desaturation
stays visible on the chart instead of being averaged away.
"""

import base64
import binascii
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, extract, func, or_, select

from app.clock import Clock
from app.domain import VitalKind
from app.domain.news2 import NEWS2_PARAMETERS, sub_score
from app.domain.scope import AccessScope
from app.errors import InvalidInput
from app.schemas import Actor, View
from app.uow import Database
from data.models import VitalReading

from .common import patient_in, require_hospital
from .directory import patient_id_by_mrn

MAX_PAGE = 1000
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



class StoredReadingView(View):
    """One stored reading of a patient, with when Vigil received it and from whom."""

    id: int
    kind: VitalKind
    value: float
    unit: str
    measured_at: datetime
    recorded_at: datetime
    source: str


class ReadingPage(View):
    """Readings newest first; pass next_cursor back as cursor for the older ones (None: no more)."""

    items: tuple[StoredReadingView, ...]
    next_cursor: str | None


def encode_cursor(measured_at: datetime, reading_id: int) -> str:
    """Return an opaque cursor pointing just past this reading."""
    return base64.urlsafe_b64encode(f'{measured_at.isoformat()}|{reading_id}'.encode()).decode().rstrip('=')


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Return (measured_at, id) from a cursor made by encode_cursor, or raise InvalidInput."""
    try:
        text = base64.urlsafe_b64decode(cursor + '=' * (-len(cursor) % 4)).decode()
        at, reading_id = text.split('|')
        measured_at = datetime.fromisoformat(at)
        if measured_at.tzinfo is None:
            raise ValueError('naive')
        number = int(reading_id)
        if not 1 <= number < 2**63:  # an id no row has (a larger one overflows the database driver: a 500)
            raise ValueError('out of range')
        return measured_at, number
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInput('The cursor is not one this server handed out; start again without it.') from None


class PatientHistoryService:
    """Read a patient's stored readings and trends, if the actor may open the patient."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def readings(self, actor: Actor, mrn: str, *, kinds: Sequence[VitalKind] = (),
                       since: datetime | None = None, until: datetime | None = None, limit: int = 100,
                       cursor: str | None = None) -> ReadingPage:
        """Return a page of a patient's readings, newest measurement first, optionally of some kinds and a window."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f'limit must be between 1 and {MAX_PAGE}.')
        async with self._db.read() as session:
            patient_id = await patient_id_by_mrn(session, actor, mrn)
        statement = (select(VitalReading).where(VitalReading.patient_id == patient_id)
                     .order_by(VitalReading.measured_at.desc(), VitalReading.id.desc()).limit(limit + 1))
        if kinds:
            statement = statement.where(VitalReading.kind.in_([k.value for k in kinds]))
        if since is not None:
            statement = statement.where(VitalReading.measured_at >= since)
        if until is not None:
            statement = statement.where(VitalReading.measured_at < until)
        if cursor is not None:
            at, reading_id = decode_cursor(cursor)
            statement = statement.where(or_(VitalReading.measured_at < at,
                                            and_(VitalReading.measured_at == at, VitalReading.id < reading_id)))
        async with self._db.read() as session:
            rows = list(await session.scalars(statement))
        more = len(rows) > limit
        rows = rows[:limit]
        items = tuple(StoredReadingView.model_validate(row) for row in rows)
        last = rows[-1] if more else None
        return ReadingPage(items=items, next_cursor=encode_cursor(last.measured_at, last.id) if last else None)

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
