"""Critical limits and alarm-fatigue settings: defaults, persistence delay, and what an override may be."""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Literal

from app.errors import InvalidInput
from data.enums import Priority, VitalKind

from .alerts import DEFAULT_ESCALATION_MINUTES
from .news2 import chart_steps, chart_units
from .observations import (
    DEFAULT_NEWS2_MAX_AGE_MINUTES,
    DEFAULT_OBSERVATION_GRACE_MINUTES,
    DEFAULT_OBSERVATION_MINUTES,
    DEFAULT_STALE_READING_HOURS,
    ObservationBand,
)
from .vitals import VITAL_SPECS

Direction = Literal['low', 'high']


class LimitParameter(StrEnum):
    """What a critical limit applies to: a vital sign, with SpO2 split by the patient's NEWS2 scale."""

    HEART_RATE = 'heart_rate'
    RESP_RATE = 'resp_rate'
    SPO2 = 'spo2'  # patients on SpO2 scale 1
    SPO2_SCALE_2 = 'spo2_scale2'  # patients on scale 2 (target 88-92 %): 91 % is their target, not an alarm
    SYSTOLIC_BP = 'systolic_bp'
    DIASTOLIC_BP = 'diastolic_bp'
    TEMPERATURE = 'temperature'
    CONSCIOUSNESS = 'consciousness'

    @property
    def vital(self) -> VitalKind:
        """Return the vital sign this limit watches."""
        return VitalKind.SPO2 if self is LimitParameter.SPO2_SCALE_2 else VitalKind(self.value)


def limit_parameter(kind: VitalKind, spo2_scale: int) -> LimitParameter | None:
    """Return the limit that watches a vital sign for a patient (None for the oxygen flag)."""
    if kind is VitalKind.SPO2 and spo2_scale == 2:
        return LimitParameter.SPO2_SCALE_2
    return _PARAMETER_OF[kind]


# Looked up, not built: NEWS2 and detection ask for every parameter of every patient they score.
_PARAMETER_OF: Mapping[VitalKind, LimitParameter | None] = {
    kind: None if kind is VitalKind.ON_OXYGEN else LimitParameter(kind.value) for kind in VitalKind}


@dataclass(frozen=True)
class CriticalLimit:
    """Values at or beyond `low`/`high` (inclusive, as charted) breach; None means no limit on that side.

    A breach alerts once it has lasted `persistence_seconds` (from its first to its latest reading, by measured
    time) and spans at least `persistence_readings` consecutive readings; one reading back inside ends it.
    """

    low: float | None
    high: float | None
    persistence_seconds: int = 0
    persistence_readings: int = 1

    # The edges as charted, in whole units and in tenths (see chart_steps): worked out once, not per reading.
    _edges: Mapping[int, tuple[int | None, int | None]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, '_edges', {steps: tuple(
            None if edge is None else chart_units(kind, edge) for edge in (self.low, self.high))
            for steps, kind in ((1, VitalKind.HEART_RATE), (10, VitalKind.TEMPERATURE))})

    def breach(self, kind: VitalKind, value: float) -> Direction | None:
        """Return which limit a value breaches, if any (compared at the chart's resolution, like NEWS2)."""
        charted = chart_units(kind, value)
        low, high = self._edges[chart_steps(kind)]
        if low is not None and charted <= low:
            return 'low'
        if high is not None and charted >= high:
            return 'high'
        return None

    def persisted(self, breach_since: datetime, last_at: datetime, readings: int) -> bool:
        """Tell whether a breach has lasted long enough to alert."""
        return (readings >= self.persistence_readings
                and (last_at - breach_since).total_seconds() >= self.persistence_seconds)


# Defaults equal the NEWS2 3-point bands. Only SpO2 waits: motion and poor perfusion make most desaturation alarms
# spurious, and a 15 s delay removed about 60 % of them in the studies. Respiratory rate, blood pressure,
# temperature and consciousness are mostly spot observations taken minutes apart, where waiting for a second
# reading would delay a real alarm by a whole observation round; continuous heart-rate artefacts are filtered by
# the monitor itself. A hospital that sees artefacts on other channels sets its own delay.
SPO2_DELAY_SECONDS = 15
DEFAULT_LIMITS: Mapping[LimitParameter, CriticalLimit] = {
    LimitParameter.HEART_RATE: CriticalLimit(40, 131),
    LimitParameter.RESP_RATE: CriticalLimit(8, 25),
    LimitParameter.SPO2: CriticalLimit(91, None, SPO2_DELAY_SECONDS),
    LimitParameter.SPO2_SCALE_2: CriticalLimit(83, None, SPO2_DELAY_SECONDS),
    LimitParameter.SYSTOLIC_BP: CriticalLimit(90, 220),
    LimitParameter.DIASTOLIC_BP: CriticalLimit(None, None),  # not part of NEWS2: no default limit
    LimitParameter.TEMPERATURE: CriticalLimit(35.0, None),  # NEWS2 has no 3-point band for fever
    LimitParameter.CONSCIOUSNESS: CriticalLimit(None, 1),  # anything but Alert (ACVPU ordinal 1-4)
}

MAX_PERSISTENCE_SECONDS = 300  # beyond five minutes a "delay" hides deterioration rather than artefacts
MAX_PERSISTENCE_READINGS = 20
MAX_ESCALATION_STEPS = 5
MAX_ESCALATION_MINUTES = 24 * 60
DEVICE_SILENCE_RANGE = (30, 24 * 3600)


@dataclass(frozen=True)
class HospitalRules:
    """The rules one hospital's detection and escalation run on (its overrides merged over the defaults)."""

    hospital_id: int
    limits: Mapping[LimitParameter, CriticalLimit] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    escalation: Mapping[Priority, tuple[int, ...]] = field(default_factory=lambda: dict(DEFAULT_ESCALATION_MINUTES))
    alarms_latch: bool = True
    device_silence_seconds: int = 120
    stale_reading_hours: int = DEFAULT_STALE_READING_HOURS
    news2_max_age_minutes: Mapping[VitalKind, int] = field(default_factory=lambda: dict(DEFAULT_NEWS2_MAX_AGE_MINUTES))
    observation_minutes: Mapping[ObservationBand, int] = field(
        default_factory=lambda: dict(DEFAULT_OBSERVATION_MINUTES))
    observation_grace_minutes: int = DEFAULT_OBSERVATION_GRACE_MINUTES


def check_limit(parameter: LimitParameter, limit: CriticalLimit) -> None:
    """Refuse limits that are inverted, impossible, off the chart's resolution, or delays out of bounds."""
    kind = parameter.vital
    spec = VITAL_SPECS[kind]
    for side, value in (('low', limit.low), ('high', limit.high)):
        if value is None:
            continue
        if not spec.low <= value <= spec.high:
            raise InvalidInput(f'The {side} limit of {spec.label} must lie within {spec.low:g}-{spec.high:g} '
                               f'{spec.shown_unit}, not {value:g}.')
        # NOTE: exact, not within a tolerance: 2.6e-42 is no heart-rate limit, though it lies within 1e-6 of 0.
        decimals = round(math.log10(chart_steps(kind)))  # 1 step per unit: whole numbers; 10: tenths
        if round(value, decimals) != value:
            raise InvalidInput(f'The {side} limit of {spec.label} is charted in steps of {10 ** -decimals:g} '
                               f'{spec.shown_unit}; {value:g} is not one of them.')
    if kind is VitalKind.CONSCIOUSNESS and limit.low is not None:
        raise InvalidInput('Consciousness has no low limit: 0 is Alert, higher values are worse.')
    if limit.low is not None and limit.high is not None and not limit.low < limit.high:
        raise InvalidInput(f'The low limit of {spec.label} ({limit.low:g}) must be below the high limit '
                           f'({limit.high:g}).')
    if not 0 <= limit.persistence_seconds <= MAX_PERSISTENCE_SECONDS:
        raise InvalidInput(f'A persistence delay lasts 0-{MAX_PERSISTENCE_SECONDS} seconds, '
                           f'not {limit.persistence_seconds}.')
    if not 1 <= limit.persistence_readings <= MAX_PERSISTENCE_READINGS:
        raise InvalidInput(f'A persistence delay counts 1-{MAX_PERSISTENCE_READINGS} consecutive readings, '
                           f'not {limit.persistence_readings}.')


def check_escalation_steps(priority: Priority, minutes: tuple[int, ...]) -> None:
    """Refuse escalation steps that are not a short, strictly increasing list of positive whole minutes."""
    if priority in (Priority.CRITICAL, Priority.HIGH) and not minutes:
        raise InvalidInput(f'{priority.title()} alerts must escalate at least once: an unanswered one may never be '
                           'a dead end.')
    if len(minutes) > MAX_ESCALATION_STEPS:
        raise InvalidInput(f'An escalation policy has at most {MAX_ESCALATION_STEPS} steps, not {len(minutes)}.')
    for step in minutes:
        if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= MAX_ESCALATION_MINUTES:
            raise InvalidInput(f'Escalation steps are whole minutes from 1 to {MAX_ESCALATION_MINUTES}, '
                               f'not {step!r}.')
    if any(later <= earlier for earlier, later in pairwise(minutes)):
        raise InvalidInput(f'Escalation steps must increase strictly (minutes after raising), not {list(minutes)}.')


def check_device_silence(seconds: int) -> None:
    """Refuse a heartbeat timeout that would alarm on normal gaps or notice a dead device too late."""
    low, high = DEVICE_SILENCE_RANGE
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not low <= seconds <= high:
        raise InvalidInput(f'A device counts as silent after {low}-{high} seconds, not {seconds!r}.')


# Trigger names: what a detected alert is about, per patient. An alert's dedup key is its trigger plus the patient,
# so there is at most one open alert per patient and trigger; a snooze names the trigger.
NEWS2_TRIGGER = 'news2'
OBSERVATIONS_TRIGGER = 'observations'  # the patient's next full set of observations is overdue
# NOTE: the dedup keys Vigil's own detection (news2:..., limit:...) and device watchdog (services/escalation.py
# heartbeat_key) use; alerts from outside may not take them, or they would merge into, and be snoozed, cleared or
# resolved as, detected alerts.
RESERVED_DEDUP_PREFIXES = (f'{NEWS2_TRIGGER}:', 'limit:', 'heartbeat:', f'{OBSERVATIONS_TRIGGER}:')


def is_reserved_dedup_key(key: str) -> bool:
    """Tell whether a dedup key belongs to Vigil's own detection (compared case-insensitively, to avoid look-alikes)."""
    return key.strip().lower().startswith(RESERVED_DEDUP_PREFIXES)


def limit_trigger(parameter: LimitParameter, direction: Direction) -> str:
    """Return the trigger name of one side of a critical limit."""
    return f'limit:{parameter.value}:{direction}'


def dedup_key(trigger: str, patient_id: int) -> str:
    """Return the dedup key of a patient's alert for a trigger (e.g. news2:12, limit:spo2:low:12)."""
    return f'{trigger}:{patient_id}'


def trigger_of(key: str | None, patient_id: int | None) -> str | None:
    """Return the trigger of a detected alert's dedup key, or None if it is not one of a patient's triggers."""
    if key is None or patient_id is None:
        return None
    trigger, _, suffix = key.rpartition(':')
    return trigger if trigger and suffix == str(patient_id) else None
