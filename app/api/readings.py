"""The wire format of vital-sign readings: validation of a batch, ACVPU letters and oxygen flags, unit conversion.

Every bad reading of a batch is reported (index, MRN, kind and why), not just the first, so a device or an
integrator can fix a whole batch in one go.
"""

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from app.domain import VitalKind
from app.domain.vitals import VITAL_SPECS, plausibility_problem
from app.errors import InvalidInput
from app.schemas import VitalReadingIn
from app.services.patients import MAX_FUTURE_SKEW

from .request_limits import IsoDateTime, parse_json

MAX_BATCH = 1000
ACVPU = ('A', 'C', 'V', 'P', 'U')  # Alert, new Confusion, Voice, Pain, Unresponsive: stored as ordinals 0-4
FAHRENHEIT = '[degF]'
WireValue = float | bool | str


class ReadingIn(BaseModel):
    """One vital-sign reading as a device or integration sends it."""

    model_config = ConfigDict(extra='forbid', str_strip_whitespace=True, json_schema_extra={'examples': [
        {'patient_mrn': 'G100101', 'kind': 'heart_rate', 'value': 88, 'unit': '/min',
         'measured_at': '2026-11-26T15:00:00Z'},
        {'patient_mrn': 'G100101', 'kind': 'consciousness', 'value': 'A', 'measured_at': '2026-11-26T15:00:00Z'},
    ]})

    patient_mrn: str = Field(min_length=1, max_length=64, description="The patient's medical record number.")
    kind: VitalKind
    value: WireValue = Field(description=(
        'A number in the unit below; for consciousness an ACVPU letter (A, C, V, P or U); for on_oxygen true/false '
        'or 1/0.'))
    unit: str | None = Field(default=None, max_length=16, description=(
        'UCUM: heart_rate and resp_rate "/min", spo2 "%", systolic_bp and diastolic_bp "mm[Hg]", temperature "Cel" '
        '(or "[degF]", converted to Cel and stored rounded to 0.01), consciousness "{ACVPU}" and on_oxygen '
        '"{bool}" (both may be left out).'))
    measured_at: IsoDateTime = Field(description='When it was measured, with a timezone (ISO 8601).')


_BATCH: TypeAdapter[list[ReadingIn]] = TypeAdapter(list[ReadingIn])
_DOMAIN: TypeAdapter[list[VitalReadingIn]] = TypeAdapter(list[VitalReadingIn])


class ReadingProblem(BaseModel):
    """Why one reading (index in the array, 0 for a single object; null for the body as a whole) was refused."""

    index: int | None
    patient_mrn: str | None
    kind: str | None
    message: str


class ReadingProblems(BaseModel):
    """Nothing was stored: every refused reading with the reason, or one message about the request as a whole
    (such as a malformed Idempotency-Key)."""

    detail: str | list[ReadingProblem]


class HistoryOnly(BaseModel):
    """A reading stored as history only: measured longer before it arrived than the hospital's stale-reading age."""

    index: int | None = Field(description='Position in the array sent (0 for a single object); null on a replay')
    patient_mrn: str
    kind: str
    measured_at: datetime
    message: str


class Accepted(BaseModel):
    """All readings were stored and committed."""

    accepted: int
    history_only: list[HistoryOnly] = Field(
        default_factory=list, description='Readings stored as history only: never the latest value, never scored or '
        'alerted on, because they were measured too long before they arrived')


class ReadingsRejected(InvalidInput):
    """A batch with bad readings; nothing of it was stored."""

    def __init__(self, problems: Sequence[ReadingProblem]) -> None:
        super().__init__('; '.join(f'reading {p.index}: {p.message}' if p.index is not None else p.message
                                   for p in problems))
        self.problems = list(problems)


def stored_value(kind: VitalKind, value: WireValue, unit: str | None) -> tuple[float, str]:
    """Return the (value, unit) Vigil stores for a wire value, or raise ValueError saying why it cannot."""
    spec = VITAL_SPECS[kind]
    if kind is VitalKind.CONSCIOUSNESS:
        if not isinstance(value, str) or value.upper() not in ACVPU:
            raise ValueError(f'consciousness must be one of the ACVPU letters {", ".join(ACVPU)}, not {value!r}')
        if unit not in (None, spec.unit):
            raise ValueError(f'consciousness is sent without a unit or as "{spec.unit}", not "{unit}"')
        return float(ACVPU.index(value.upper())), spec.unit
    if kind is VitalKind.ON_OXYGEN:
        if isinstance(value, str) or value not in (0, 1):
            raise ValueError(f'on_oxygen must be true/false or 1/0, not {value!r}')
        if unit not in (None, spec.unit):
            raise ValueError(f'on_oxygen is sent without a unit or as "{spec.unit}", not "{unit}"')
        return float(value), spec.unit
    if isinstance(value, bool | str):
        raise ValueError(f'{spec.label} must be a number, not {value!r}')
    if not math.isfinite(value):
        raise ValueError(f'{spec.label} must be a finite number')
    if unit is None:
        raise ValueError(f'{spec.label} needs its unit "{spec.unit}"')
    if kind is VitalKind.TEMPERATURE and unit == FAHRENHEIT:
        return round((value - 32) * 5 / 9, 2), spec.unit
    return float(value), unit


def wire_value(kind: VitalKind, value: float) -> WireValue:
    """Return how a stored value goes out: an ACVPU letter, a boolean, or the number."""
    if kind is VitalKind.CONSCIOUSNESS and value in range(len(ACVPU)):
        return ACVPU[int(value)]
    if kind is VitalKind.ON_OXYGEN:
        return bool(value)
    return value


def to_domain(reading: ReadingIn, now: datetime) -> VitalReadingIn:
    """Return the domain reading for a parsed one, or raise ValueError saying why it cannot be accepted."""
    value, unit = stored_value(reading.kind, reading.value, reading.unit)
    domain = VitalReadingIn(patient_mrn=reading.patient_mrn, kind=reading.kind, value=value, unit=unit,
                            measured_at=reading.measured_at)
    if problem := plausibility_problem(domain.kind, domain.value, domain.unit):
        raise ValueError(problem)
    if domain.measured_at > now + MAX_FUTURE_SKEW:
        raise ValueError(f'measured_at {reading.measured_at.isoformat()} is in the future (more than '
                         f'{MAX_FUTURE_SKEW.total_seconds() / 60:g} minutes ahead of the server clock)')
    return domain


def to_domain_all(readings: Sequence[ReadingIn], now: datetime) -> list[VitalReadingIn]:
    """Return the domain readings for parsed ones, all validated in one pass through pydantic's core (for a batch, a
    few times less CPU than to_domain one by one); raise ValueError if any cannot be accepted (to_domain says why)."""
    latest_allowed = now + MAX_FUTURE_SKEW
    rows: list[dict[str, Any]] = []
    for reading in readings:
        value, unit = stored_value(reading.kind, reading.value, reading.unit)
        if plausibility_problem(reading.kind, value, unit) or reading.measured_at > latest_allowed:
            raise ValueError('a reading cannot be accepted')
        rows.append({'patient_mrn': reading.patient_mrn, 'kind': reading.kind, 'value': value, 'unit': unit,
                     'measured_at': reading.measured_at})
    return _DOMAIN.validate_python(rows)


def _well_formed(body: bytes) -> list[ReadingIn] | None:
    """Parse and validate a body that is one good reading or an array of 1 to MAX_BATCH of them, straight from its
    bytes in pydantic's core (no Python objects for the JSON document); None for anything else.

    A document that validates nests two levels at most, so it needs no depth check.
    """
    first = body[:16].lstrip()[:1]
    try:
        if first == b'[':
            readings = _BATCH.validate_json(body)
            return readings if 1 <= len(readings) <= MAX_BATCH else None
        if first == b'{':
            return [ReadingIn.model_validate_json(body)]
    except ValueError:
        pass
    return None


def parse_batch(body: bytes, now: datetime) -> list[VitalReadingIn]:
    """Parse and convert a raw body (one reading or an array of them) into domain readings.

    Raises ReadingsRejected naming every bad reading (nothing is half-accepted).
    """
    # The common case: the body parsed and validated in one pass, the domain readings in another.
    well_formed = _well_formed(body)
    if well_formed is not None:
        try:
            return to_domain_all(well_formed, now)
        except ValueError:
            pass  # the slow path below names every bad reading
    try:
        document: Any = parse_json(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ReadingsRejected([_problem(None, None, None, f'The body is not valid JSON: {error}.')]) from None
    is_array = isinstance(document, list)
    items: list[Any] = document if is_array else [document]
    if not is_array and not isinstance(document, dict):
        message = 'The body must be one reading object or an array of readings.'
    elif not items:
        message = 'The array holds no readings.'
    elif len(items) > MAX_BATCH:
        message = f'At most {MAX_BATCH} readings per request; this one has {len(items)}.'
    else:
        message = ''
    if message:
        raise ReadingsRejected([_problem(None, None, None, message)])
    readings: list[VitalReadingIn] = []
    problems: list[ReadingProblem] = []
    for index, item in enumerate(items):
        mrn, kind = _identity(item)
        try:
            if not isinstance(item, dict):
                raise ValueError('each reading must be a JSON object')
            readings.append(to_domain(ReadingIn.model_validate(item), now))
        except ValidationError as error:
            problems.append(_problem(index, mrn, kind, _describe(error.errors())))
        except ValueError as error:
            problems.append(_problem(index, mrn, kind, str(error)))
    if problems:
        raise ReadingsRejected(problems)
    return readings


def _identity(item: object) -> tuple[str | None, str | None]:
    if not isinstance(item, dict):
        return None, None
    mrn, kind = item.get('patient_mrn'), item.get('kind')
    return (mrn.strip() if isinstance(mrn, str) else None), (kind.strip() if isinstance(kind, str) else None)


def _problem(index: int | None, mrn: str | None, kind: str | None, message: str) -> ReadingProblem:
    return ReadingProblem(index=index, patient_mrn=mrn, kind=kind, message=message)


def _describe(errors: Sequence[ErrorDetails]) -> str:
    """Say in plain words what pydantic found wrong with one reading."""
    reasons = []
    for error in errors:
        field = '.'.join(str(part) for part in error['loc'][:1]) or 'reading'
        match error['type']:
            case 'missing':
                reasons.append(f'{field} is missing')
            case 'extra_forbidden':
                reasons.append(f'unknown field "{field}"')
            case 'enum' if field == 'kind':
                reasons.append(f'unknown kind {error["input"]!r}; one of {", ".join(k.value for k in VitalKind)}')
            case 'timezone_aware':
                reasons.append(f'{field} needs a timezone, e.g. "2026-11-26T15:00:00Z"')
            case _ if field == 'value':
                reasons.append('value must be a number, an ACVPU letter or true/false')
            case _:
                reasons.append(f'{field}: {error["msg"]}')
    return '; '.join(dict.fromkeys(reasons))  # a union's branches repeat themselves
