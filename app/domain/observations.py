"""Data age and observation frequency: when a value is too old to count, and when the next full set is due.

RCP NEWS2 (2017), Chart 4, "clinical response": the score sets how often observations are taken (0: at least
12-hourly; 1-4: at least 4-6-hourly; a single parameter scoring 3, or 5-6: at least hourly; 7 or more: continuous
monitoring). A value is part of the patient's present only while it is younger than its parameter's maximum age;
older, NEWS2 counts it as missing and every screen shows it as stale with its age. Each hospital may change the
defaults below (RulesService.update_observation_settings); what an override may be is checked here.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise

from app.errors import InvalidInput
from data.enums import VitalKind

from .news2 import NEWS2_PARAMETERS, TriggerLevel


class ObservationBand(StrEnum):
    """The chart's monitoring frequencies, by aggregate score and trigger level."""

    ZERO = 'zero'  # aggregate 0
    LOW = 'low'  # aggregate 1-4, no single 3
    URGENT = 'urgent'  # a single parameter scoring 3, or aggregate 5-6
    EMERGENCY = 'emergency'  # aggregate 7 or more: continuous monitoring, a full set at least every 15 minutes


DEFAULT_OBSERVATION_MINUTES: Mapping[ObservationBand, int] = {
    ObservationBand.ZERO: 12 * 60,
    ObservationBand.LOW: 4 * 60,
    ObservationBand.URGENT: 60,
    ObservationBand.EMERGENCY: 15,
}
OBSERVATION_MINUTES_RANGE = (5, 24 * 60)
DEFAULT_OBSERVATION_GRACE_MINUTES = 30
OBSERVATION_GRACE_RANGE = (5, 4 * 60)

# A value older than this no longer counts in NEWS2 (the longest routine interval of the chart, 12 hours, plus the
# grace a busy ward needs). Each hospital may shorten it per parameter, e.g. for SpO2 from a continuous monitor.
DEFAULT_NEWS2_MAX_AGE_MINUTES: Mapping[VitalKind, int] = {kind: 13 * 60 for kind in NEWS2_PARAMETERS}
NEWS2_MAX_AGE_RANGE = (5, 48 * 60)

# A reading measured longer ago than this when it arrives is stored as history only (back-filled charts, a
# device's buffered memory, a FHIR example from 2014): it never becomes the latest value and never alerts.
DEFAULT_STALE_READING_HOURS = 24
STALE_READING_HOURS_RANGE = (1, 7 * 24)


def observation_band(total: int, level: TriggerLevel) -> ObservationBand:
    """Return the monitoring frequency band of a NEWS2 aggregate and its trigger level."""
    if level is TriggerLevel.EMERGENCY:
        return ObservationBand.EMERGENCY
    if level in (TriggerLevel.URGENT, TriggerLevel.SINGLE_3):
        return ObservationBand.URGENT
    return ObservationBand.LOW if total > 0 else ObservationBand.ZERO


def _check_range(what: str, value: object, bounds: tuple[int, int], unit: str) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f'{what} must be whole {unit} from {low} to {high}, not {value!r}.')
    return value


def check_observation_minutes(minutes: Mapping[str, object]) -> dict[ObservationBand, int]:
    """Refuse unknown bands, values out of range, or a sicker band observed less often than a milder one."""
    merged = dict(DEFAULT_OBSERVATION_MINUTES)
    for name, value in minutes.items():
        try:
            band = ObservationBand(name)
        except ValueError:
            raise InvalidInput(f'Unknown observation band "{name}"; known are '
                               f'{", ".join(b.value for b in ObservationBand)}.') from None
        merged[band] = _check_range(f'The observation interval of band "{band}"', value, OBSERVATION_MINUTES_RANGE,
                                    'minutes')
    for milder, sicker in pairwise(ObservationBand):
        if merged[sicker] > merged[milder]:
            raise InvalidInput(f'Band "{sicker}" ({merged[sicker]} min) cannot be observed less often than band '
                               f'"{milder}" ({merged[milder]} min).')
    return merged


def check_grace_minutes(minutes: object) -> int:
    """Refuse a grace period that would alarm on a normal delay or notice a missed round too late."""
    return _check_range('The grace period before observations count as overdue', minutes, OBSERVATION_GRACE_RANGE,
                        'minutes')


def check_news2_max_age(minutes: Mapping[str, object]) -> dict[VitalKind, int]:
    """Refuse unknown parameters and ages out of range; return the merged maximum ages in minutes."""
    merged = dict(DEFAULT_NEWS2_MAX_AGE_MINUTES)
    for name, value in minutes.items():
        try:
            kind = VitalKind(name)
        except ValueError:
            kind = None
        if kind is None or kind not in NEWS2_PARAMETERS:
            raise InvalidInput(f'Unknown NEWS2 parameter "{name}"; known are '
                               f'{", ".join(k.value for k in NEWS2_PARAMETERS)}.')
        merged[kind] = _check_range(f'The maximum age of {kind.value}', value, NEWS2_MAX_AGE_RANGE, 'minutes')
    return merged


def check_stale_reading_hours(hours: object) -> int:
    """Refuse a stale-reading age out of range."""
    return _check_range('The age at which an arriving reading is kept as history only', hours,
                        STALE_READING_HOURS_RANGE, 'hours')


def is_stale(measured_at: datetime, now: datetime, max_age: timedelta) -> bool:
    """Tell whether a value measured then is too old to count now."""
    return now - measured_at > max_age


def age_text(seconds: float) -> str:
    """Return an age as staff say it: '40 s', '12 min', '5 h', '3 d'."""
    seconds = max(seconds, 0)
    if seconds < 90:
        return f'{seconds:.0f} s'
    if seconds < 90 * 60:
        return f'{seconds / 60:.0f} min'
    if seconds < 48 * 3600:
        return f'{seconds / 3600:.0f} h'
    return f'{seconds / 86400:.0f} d'
