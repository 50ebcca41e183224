"""NEWS2 (Royal College of Physicians, 2017): sub-score per parameter, aggregate, risk band and trigger level.

Values are scored the way a nurse charts them: rounded half up to the chart's resolution first (whole numbers,
temperature to 0.1 °C), so 20.5 breaths/min is charted 21 and 35.05 °C is charted 35.1. Without this, a value
between two band edges (35.05) would belong to neither printed band.
"""

import math
from collections.abc import Mapping
from datetime import datetime
from enum import IntEnum
from typing import TYPE_CHECKING, Literal

from data.enums import VitalKind

from .vitals import VITAL_SPECS, describe

if TYPE_CHECKING:  # app.schemas imports domain modules that build on this one: its views are imported late
    from ..schemas import News2View, PendingScore

# The seven NEWS2 parameters in the order of the RCP chart (diastolic pressure is not part of the score).
NEWS2_PARAMETERS: tuple[VitalKind, ...] = (
    VitalKind.RESP_RATE, VitalKind.SPO2, VitalKind.ON_OXYGEN, VitalKind.SYSTOLIC_BP, VitalKind.HEART_RATE,
    VitalKind.CONSCIOUSNESS, VitalKind.TEMPERATURE,
)

_PARAMETER_SET = frozenset(NEWS2_PARAMETERS)

# (highest charted value of the band, points), lowest band first; values in chart steps (see chart_units).
Bands = tuple[tuple[float, int], ...]


def chart_steps(kind: VitalKind) -> int:
    """Return how many chart steps make one unit: temperature is charted in tenths of a degree, the rest whole."""
    return 10 if kind is VitalKind.TEMPERATURE else 1


def chart_units(kind: VitalKind, value: float) -> int:
    """Return a measured value as charted (rounded half up to the chart's resolution), counted in chart steps.

    The inner round() removes binary noise first: 35.05 * 10 is 350.49999999999994 in floating point.
    """
    scaled = value * (10 if kind is VitalKind.TEMPERATURE else 1)  # chart_steps inlined: runs for every reading
    if scaled % 1 == 0:  # already whole (most readings): as charted, without round()'s costly decimal rounding
        return int(scaled)
    return math.floor(round(scaled, 6) + 0.5)


# Chart 1 of RCP NEWS2, read as "up to and including this value scores these points".
_BANDS: dict[VitalKind, Bands] = {
    VitalKind.RESP_RATE: ((8, 3), (11, 1), (20, 0), (24, 2), (math.inf, 3)),
    VitalKind.SYSTOLIC_BP: ((90, 3), (100, 2), (110, 1), (219, 0), (math.inf, 3)),
    VitalKind.HEART_RATE: ((40, 3), (50, 1), (90, 0), (110, 1), (130, 2), (math.inf, 3)),
    VitalKind.TEMPERATURE: ((350, 3), (360, 1), (380, 0), (390, 1), (math.inf, 2)),  # tenths of a degree
}
SPO2_SCALE_1: Bands = ((91, 3), (93, 2), (95, 1), (math.inf, 0))
# Scale 2 (target 88-92 %, hypercapnic respiratory failure): on air anything from 88 % up scores 0; on oxygen
# saturations above target score again, because over-oxygenation harms these patients.
SPO2_SCALE_2_AIR: Bands = ((83, 3), (85, 2), (87, 1), (math.inf, 0))
SPO2_SCALE_2_OXYGEN: Bands = ((83, 3), (85, 2), (87, 1), (92, 0), (94, 1), (96, 2), (math.inf, 3))

OXYGEN_POINTS = 2
CONSCIOUSNESS_POINTS = 3  # any of new Confusion, Voice, Pain, Unresponsive

Risk = Literal['low', 'low-medium', 'medium', 'high']


class TriggerLevel(IntEnum):
    """The chart's clinical response thresholds, ordered; each higher level includes the lower ones."""

    NONE = 0
    SINGLE_3 = 1  # a single parameter scoring 3: urgent ward-based response
    URGENT = 2  # aggregate 5-6: urgent response threshold
    EMERGENCY = 3  # aggregate 7 or more: emergency response


RISK: Mapping[TriggerLevel, Risk] = {
    TriggerLevel.NONE: 'low', TriggerLevel.SINGLE_3: 'low-medium', TriggerLevel.URGENT: 'medium',
    TriggerLevel.EMERGENCY: 'high',
}


def _points(bands: Bands, charted: int) -> int:
    for highest, points in bands:
        if charted <= highest:
            return points
    raise AssertionError('the last band is open-ended')


def spo2_bands(spo2_scale: int, on_oxygen: bool) -> Bands:
    """Return the SpO2 bands of a patient's scale; oxygen only matters on scale 2 and never selects it."""
    if spo2_scale == 1:
        return SPO2_SCALE_1
    if spo2_scale == 2:
        return SPO2_SCALE_2_OXYGEN if on_oxygen else SPO2_SCALE_2_AIR
    raise ValueError(f'SpO2 scale must be 1 or 2, not {spo2_scale!r}')


def sub_score(kind: VitalKind, value: float, spo2_scale: int = 1, on_oxygen: float | None = None) -> int:
    """Return the NEWS2 points of one parameter's value.

    For SpO2 on scale 2 an unknown oxygen state is scored as air, the lower of the two, so that a total with
    missing parameters stays a lower bound.
    """
    charted = chart_units(kind, value)
    bands = _BANDS.get(kind)
    if bands is not None:  # most parameters: looked up first (this runs for every parameter NEWS2 scores)
        return _points(bands, charted)
    match kind:
        case VitalKind.SPO2:
            oxygen = on_oxygen is not None and chart_units(VitalKind.ON_OXYGEN, on_oxygen) != 0
            return _points(spo2_bands(spo2_scale, oxygen), charted)
        case VitalKind.ON_OXYGEN:
            return OXYGEN_POINTS if charted != 0 else 0
        case VitalKind.CONSCIOUSNESS:
            return CONSCIOUSNESS_POINTS if charted != 0 else 0
    raise ValueError(f'{kind} is not a NEWS2 parameter')


def trigger_level(total: int, sub_scores: Mapping[VitalKind, int]) -> TriggerLevel:
    """Return the highest response threshold that an aggregate and its sub-scores reach."""
    if total >= 7:
        return TriggerLevel.EMERGENCY
    if total >= 5:
        return TriggerLevel.URGENT
    if any(points == 3 for points in sub_scores.values()):
        return TriggerLevel.SINGLE_3
    return TriggerLevel.NONE


NEWS2_RESPONSE: Mapping[TriggerLevel, str] = {
    TriggerLevel.NONE: 'routine monitoring', TriggerLevel.SINGLE_3: 'urgent ward-based response',
    TriggerLevel.URGENT: 'urgent response', TriggerLevel.EMERGENCY: 'emergency response',
}

# What a value is, for explain: (value, measured at).
Latest = Mapping[VitalKind, tuple[float, datetime]]


def explain(latest: Latest, spo2_scale: int, now: datetime | None = None,
            max_age_minutes: Mapping[VitalKind, int] | None = None,
            delayed: Mapping[VitalKind, tuple[int, float | None]] | None = None) -> 'News2View':
    """Score and explain a patient's NEWS2 from the latest value of each parameter: the one place that does it.

    Detection (the alert headline), the patient card and page, and the API all take their NEWS2 from here, so they
    can never disagree. A parameter never measured is missing, never scored 0; with `now` and `max_age_minutes`, one
    whose latest value is older than its maximum age is stale and counts as missing too. `delayed` gives, for a
    parameter under a persistence delay, the points that have lasted the delay and the seconds still to go: a
    value scoring more than that is pending, shown but counted at the persisted level until it is confirmed.
    """
    from ..schemas import News2View, PendingScore

    spo2_bands(spo2_scale, False)  # refuse an unknown scale even when SpO2 itself is missing
    stale: dict[VitalKind, float] = {}
    if now is not None and max_age_minutes is not None:
        for kind, (_, at) in latest.items():
            if kind in _PARAMETER_SET and kind in max_age_minutes:
                age = (now - at).total_seconds()
                if age > max_age_minutes[kind] * 60:
                    stale[kind] = age
    current = {kind: value for kind, (value, _) in latest.items() if kind not in stale}
    on_oxygen = current.get(VitalKind.ON_OXYGEN)
    scores: dict[VitalKind, int] = {}
    pending: dict[VitalKind, PendingScore] = {}
    for kind in NEWS2_PARAMETERS:
        if kind not in current:
            continue
        points = sub_score(kind, current[kind], spo2_scale, on_oxygen)
        counted, seconds_left = (delayed or {}).get(kind, (points, None))
        if counted < points:
            pending[kind] = PendingScore(points=points, counted=counted, seconds_left=seconds_left)
            points = counted
        scores[kind] = points
    total = sum(scores.values())
    level = trigger_level(total, scores)
    missing = tuple(k for k in NEWS2_PARAMETERS if k not in scores)
    return News2View(total=total, sub_scores=scores, missing=missing, stale=stale, pending=pending,
                     risk=RISK[level], explanation=_explanation(total, level, scores, missing, stale, pending, latest))


def news2_condition(news2: 'News2View') -> str:
    """Return what a NEWS2 headline describes, compactly: total; points per parameter; stale (s) or pending (p).

    Two scores with the same condition read the same to a clinician (values moved within their bands); a change
    of total, of any sub-score, or of what is missing, stale or pending is a new headline.
    """
    points = ''.join(str(news2.sub_scores[k]) if k in news2.sub_scores else '-' for k in NEWS2_PARAMETERS)
    flags = ''.join('s' if k in news2.stale else 'p' if k in news2.pending else '.' for k in NEWS2_PARAMETERS)
    return f'{news2.total};{points};{flags}'


def _explanation(total: int, level: TriggerLevel, scores: Mapping[VitalKind, int], missing: tuple[VitalKind, ...],
                 stale: Mapping[VitalKind, float], pending: Mapping[VitalKind, 'PendingScore'], latest: Latest) -> str:
    from .observations import age_text  # observations builds on this module

    text = f'NEWS2 {total} ({RISK[level]} risk, {NEWS2_RESPONSE[level]})'
    parts = [f'{describe(kind, latest[kind][0])} ({points})' for kind in NEWS2_PARAMETERS
             if (points := scores.get(kind)) and kind not in pending]
    if parts:
        text += ': ' + ', '.join(parts)
    for kind, waiting in pending.items():
        left = f'confirming for {waiting.seconds_left:.0f} s' if waiting.seconds_left else 'confirming'
        text += (f'; {describe(kind, latest[kind][0])}, {left} (counts {waiting.counted}, '
                 f'{waiting.points} once confirmed)')
    never = [VITAL_SPECS[kind].label for kind in missing if kind not in stale]
    if never:
        text += f'; not measured: {", ".join(never)}'
    if stale:
        text += '; stale: ' + ', '.join(f'{VITAL_SPECS[kind].label} ({age_text(stale[kind])})'
                                        for kind in NEWS2_PARAMETERS if kind in stale)
    return text


def assess(latest: Mapping[VitalKind, float], spo2_scale: int) -> 'News2View':
    """Score the latest value of each parameter with no regard to its age or delay (tests and simple callers)."""
    epoch = datetime.fromtimestamp(0).astimezone()
    return explain({kind: (value, epoch) for kind, value in latest.items()}, spo2_scale)
