"""IHE PCD-01 observations (ORU^R01) and PCD-04 alarms (ORU^R40), read from parsed HL7 v2 into what Vigil stores.

Codes are ISO/IEEE 11073-10101 (MDC) reference ids as PCD messages carry them in OBX-3 and OBX-6: the partition
shifted left 16 bits plus the term code (SCADA partition 2: 131072 + term; dimensions partition 4: 262144 + term;
attributes partition 1: 65536 + term). Every problem names the field it is in, so the ACK's ERR segment can too.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.domain import Priority, VitalKind
from app.domain.vitals import VITAL_SPECS, plausibility_problem

from .message import HL7Error, Location, field, repetitions, segments_of

# OBX-3 code -> (kind, preference when one message has several sources for one kind: lower wins).
VITAL_CODES: dict[str, tuple[VitalKind, int]] = {
    '147842': (VitalKind.HEART_RATE, 0),  # MDC_ECG_HEART_RATE (term 16770)
    '149530': (VitalKind.HEART_RATE, 1),  # MDC_PULS_OXIM_PULS_RATE (term 18458)
    '149546': (VitalKind.HEART_RATE, 2),  # MDC_PULS_RATE_NON_INV (term 18474), the NIBP cuff's pulse
    '151562': (VitalKind.RESP_RATE, 0),  # MDC_RESP_RATE (term 20490)
    '151578': (VitalKind.RESP_RATE, 1),  # MDC_TTHOR_RESP_RATE, impedance pneumography
    '151570': (VitalKind.RESP_RATE, 2),  # MDC_AWAY_RESP_RATE (term 20498)
    '150456': (VitalKind.SPO2, 0),  # MDC_PULS_OXIM_SAT_O2 (term 19384)
    '150021': (VitalKind.SYSTOLIC_BP, 0),  # MDC_PRESS_BLD_NONINV_SYS (term 18949)
    '150022': (VitalKind.DIASTOLIC_BP, 0),  # MDC_PRESS_BLD_NONINV_DIA (term 18950)
    '150364': (VitalKind.TEMPERATURE, 0),  # MDC_TEMP_BODY (term 19292)
    '150344': (VitalKind.TEMPERATURE, 1),  # MDC_TEMP, as monitors label their temperature channel
    '188424': (VitalKind.TEMPERATURE, 2),  # MDC_TEMP_ORAL (term 57352)
    '188452': (VitalKind.TEMPERATURE, 3),  # MDC_TEMP_AXILLA (term 57380)
    '188420': (VitalKind.TEMPERATURE, 4),  # MDC_TEMP_RECT (term 57348)
    '188428': (VitalKind.TEMPERATURE, 5),  # MDC_TEMP_EAR (term 57356)
    '150392': (VitalKind.TEMPERATURE, 6),  # MDC_TEMP_TYMP (term 19320)
}
# Measured by monitors but not a NEWS2 parameter Vigil keeps: accepted and left out, like any other unknown code.
NIBP_MEAN = '150023'  # MDC_PRESS_BLD_NONINV_MEAN (term 18951)

# OBX-6 unit -> the UCUM unit Vigil stores, and the factor to get there. MDC dimension codes and UCUM codes alike.
UNITS: dict[str, str] = {
    '264864': '/min',  # MDC_DIM_BEAT_PER_MIN (term 2720)
    '264928': '/min',  # MDC_DIM_RESP_PER_MIN (term 2784)
    '262688': '%',  # MDC_DIM_PERCENT (term 544)
    '266016': 'mm[Hg]',  # MDC_DIM_MMHG (term 3872)
    '268192': 'Cel',  # MDC_DIM_DEGC (term 6048)
    '266560': '[degF]',  # MDC_DIM_FAHR (term 4416)
    '/min': '/min', '{beats}/min': '/min', '{breaths}/min': '/min', '{beat}/min': '/min', '{breath}/min': '/min',
    '%': '%', 'mm[Hg]': 'mm[Hg]', 'Cel': 'Cel', '[degF]': '[degF]',
}
# OBX-11 results stored: F final, C corrected, R entered but not verified (what a monitor sends for what it just
# measured: PCD-01 devices report R, and nobody verifies a heart rate before it must alert). Not stored: P
# preliminary, S/I partial or pending, X cannot be obtained (also the device-hierarchy rows), N not asked for,
# D and W deleted or wrong, U and O. Vigil has no way to take a stored reading back: a W is acknowledged and logged.
STORED_STATUSES = frozenset('FCR')

EVENT_PHASE = '68481'  # MDC_ATTR_EVENT_PHASE
ALARM_STATE = '68482'  # MDC_ATTR_ALARM_STATE
INACTIVATION_STATE = '68483'  # MDC_ATTR_ALARM_INACTIVATION_STATE
ALERT_SOURCE = '68480'  # MDC_ATTR_ALERT_SOURCE
# OBX-8 of the alarm's first facet: IEC 60601-1-8 priority. High asks for an immediate response (Vigil's critical),
# medium for a prompt one (high: it waits, escalates after 5 min), low for awareness (low: no escalation). PN (no
# alarm: an advisory) raises nothing.
PRIORITIES = {'PH': Priority.CRITICAL, 'PM': Priority.HIGH, 'PL': Priority.LOW}
NOT_AN_ALARM = 'PN'
ENDED_PHASES = frozenset({'end', 'stop'})
PHASES = frozenset({'start', 'start_only', 'continue', 'update', 'escalate', 'de-escalate', 'present', 'reset',
                    'inactivate', 'end', 'stop'})
ENDED_STATES = frozenset({'inactive', 'off'})
STATES = frozenset({'active', 'latched'}) | ENDED_STATES


@dataclass(frozen=True)
class Observation:
    """One stored reading of a PCD-01 message, with where it came from (OBX-4 containment) and its preference."""

    kind: VitalKind
    value: float
    unit: str
    measured_at: datetime
    code: str
    containment: str
    rank: int
    index: int  # the OBX's place among the message's OBX segments (for an error's location)


@dataclass(frozen=True)
class DeviceAlarm:
    """One PCD-04 alarm: its identity, priority, and whether its condition ended."""

    event_code: str
    event_name: str
    source_code: str
    priority: Priority | None  # None: an advisory (PN), never raised
    phase: str
    state: str
    ended: bool
    text: str
    occurred_at: datetime

    @property
    def dedup_key(self) -> str:
        """One alert per patient, alarm and monitored parameter (SpO2 low and heart rate low are two alarms)."""
        return f'mdc:{self.source_code or "-"}:{self.event_code}'


def parse_hl7_time(value: str, where: Location) -> datetime:
    """Read an HL7 DTM that carries its UTC offset (IHE PCD requires one); refuse anything else."""
    text = value.strip()
    digits, sign, offset = text, '', ''
    for marker in ('+', '-'):
        if marker in text:
            digits, offset = text.split(marker, 1)
            sign = marker
    if not sign or len(offset) != 4 or not offset.isdigit():
        raise HL7Error.bad(where, f'the time "{text}" needs its UTC offset, e.g. 20261205103000+0100')
    whole, _, fraction = digits.partition('.')
    try:
        if len(whole) not in (12, 14) or not whole.isdigit() or (fraction and not fraction.isdigit()):
            raise ValueError
        moment = datetime.strptime(whole.ljust(14, '0') + sign + offset, '%Y%m%d%H%M%S%z')
    except ValueError:
        raise HL7Error.bad(where, f'"{text}" is not an HL7 time (YYYYMMDDHHMM[SS[.S]]+ZZZZ)') from None
    micro = int((fraction + '000000')[:6]) if fraction else 0
    return moment.replace(microsecond=micro).astimezone(UTC)


def observation_time(obx: Any, index: int, fallback: datetime) -> datetime:
    """OBX-14 when given, else the OBR-7 or MSH-7 time the caller found."""
    value = field(obx, 14)
    return parse_hl7_time(value, Location('OBX', index, 14)) if value else fallback


def patient_mrn(message: Any) -> str:
    """Return the patient's MRN from PID-3: the identifier of type MR, else the first one."""
    pids = segments_of(message, 'PID')
    if not pids:
        raise HL7Error.missing(Location('PID', 1), 'the message has no PID segment: whose observations are these?')
    pid = pids[0]
    identifiers = [(field(pid, 3, component=1, repetition=r), field(pid, 3, component=5, repetition=r))
                   for r in range(1, repetitions(pid, 3) + 1)]
    identifiers = [(value.strip(), kind.strip().upper()) for value, kind in identifiers if value.strip()]
    if not identifiers:
        raise HL7Error.missing(Location('PID', 1, 3), 'PID-3 names no patient identifier')
    mrn = next((value for value, kind in identifiers if kind == 'MR'), identifiers[0][0])
    if len(mrn) > 64:
        raise HL7Error.bad(Location('PID', 1, 3), 'the patient identifier is longer than 64 characters')
    return mrn


def group_time(message: Any, obr_index: int | None, header_time: datetime) -> datetime:
    """Return OBR-7 of the observation group, or the message time."""
    if obr_index is None:
        return header_time
    obr = segments_of(message, 'OBR')[obr_index - 1]
    value = field(obr, 7)
    return parse_hl7_time(value, Location('OBR', obr_index, 7)) if value else header_time


def observations(message: Any, header_time: datetime) -> list[Observation]:
    """Return the readings of a PCD-01 message Vigil stores, one per kind and time (the preferred source)."""
    found: list[Observation] = []
    obr_index: int | None = None
    obr_count = obx_count = 0
    for segment in message:
        name = str(segment[0])
        if name == 'OBR':
            obr_count += 1
            obr_index = obr_count
            continue
        if name != 'OBX':
            continue
        obx_count += 1
        code = field(segment, 3, component=1).strip()
        if code not in VITAL_CODES or field(segment, 11).strip().upper() not in STORED_STATUSES:
            continue
        kind, rank = VITAL_CODES[code]
        found.append(_observation(segment, obx_count, kind, rank, code, group_time(message, obr_index, header_time)))
    best: dict[tuple[VitalKind, datetime], Observation] = {}
    for item in found:
        key = (item.kind, item.measured_at)
        if key not in best or (item.rank, item.containment) < (best[key].rank, best[key].containment):
            best[key] = item
    return list(best.values())


def _observation(obx: Any, index: int, kind: VitalKind, rank: int, code: str, fallback: datetime) -> Observation:
    spec = VITAL_SPECS[kind]
    raw_unit = field(obx, 6, component=1).strip()
    unit = UNITS.get(raw_unit)
    if unit is None or (unit != spec.unit and not (kind is VitalKind.TEMPERATURE and unit == '[degF]')):
        raise HL7Error.bad(Location('OBX', index, 6), f'{spec.label} ({code}) in "{raw_unit or "no unit"}": send '
                           f'"{spec.unit}" or its MDC unit code', code=HL7Error.TABLE_VALUE)
    raw_value = field(obx, 5).strip()
    value_type = field(obx, 2).strip().upper()
    try:
        if value_type not in ('NM', ''):
            raise ValueError
        value = float(raw_value)
        if not math.isfinite(value):
            raise ValueError
    except ValueError:
        raise HL7Error.bad(Location('OBX', index, 5), f'{spec.label} ({code}) must be a number (OBX-2 NM), not '
                           f'{value_type or "?"} "{raw_value}"', code=HL7Error.DATA_TYPE) from None
    if unit == '[degF]':
        value, unit = round((value - 32) * 5 / 9, 2), spec.unit
    if problem := plausibility_problem(kind, value, unit):
        raise HL7Error.bad(Location('OBX', index, 5), problem)
    containment = field(obx, 4).strip()
    return Observation(kind=kind, value=value, unit=unit, measured_at=observation_time(obx, index, fallback),
                       code=code, containment=containment, rank=rank, index=index)


def device_alarm(message: Any, header_time: datetime) -> DeviceAlarm:
    """Return the one alarm a PCD-04 message reports (its first facet, source, phase and state)."""
    obxs = segments_of(message, 'OBX')
    facets: dict[str, tuple[int, Any]] = {}
    first: tuple[int, Any] | None = None
    for index, obx in enumerate(obxs, start=1):
        code = field(obx, 3, component=1).strip()
        facets.setdefault(code, (index, obx))
        if first is None and field(obx, 4).strip().endswith('.1') and field(obx, 8):
            first = (index, obx)
    if first is None:  # no dotted facet 1: the first OBX that carries a priority
        first = next(((i, o) for i, o in enumerate(obxs, start=1) if field(o, 8)), None)
    if first is None:
        raise HL7Error.missing(Location('OBX', 1, 8), 'no OBX gives the alarm with its priority in OBX-8 (PH, PM, '
                               'PL or PN)')
    index, obx = first
    flags = {field(obx, 8, repetition=r).strip().upper() for r in range(1, repetitions(obx, 8) + 1)}
    levels = [flag for flag in ('PH', 'PM', 'PL', NOT_AN_ALARM) if flag in flags]
    if not levels:
        raise HL7Error.bad(Location('OBX', index, 8), f'OBX-8 "{field(obx, 8)}" gives no alarm priority (PH, PM, PL '
                           'or PN)', code=HL7Error.TABLE_VALUE)
    event_code = field(obx, 5, component=1).strip() or field(obx, 3, component=1).strip()
    event_name = field(obx, 5, component=2).strip() or field(obx, 3, component=2).strip()
    text = field(obx, 5, component=9).strip() or event_name or event_code
    source = next(((i, o) for i, o in enumerate(obxs, start=1)
                   if field(o, 4).strip().endswith('.2') and o is not obx), None)
    source_code, source_text = '', ''
    if source is not None:
        source_obx = source[1]
        source_code = field(source_obx, 3, component=1).strip()
        if source_code == ALERT_SOURCE:
            source_code = field(source_obx, 5, component=1).strip()
        else:
            value = field(source_obx, 5).strip()
            unit = UNITS.get(field(source_obx, 6, component=1).strip(), field(source_obx, 6, component=2).strip())
            limits = field(source_obx, 7).strip()
            label = _label(source_code, field(source_obx, 3, component=2).strip())
            source_text = ' '.join(part for part in (label, value, unit) if part)
            if limits:
                source_text += f' (limits {limits})'
    phase = _facet_value(facets, EVENT_PHASE, PHASES, 'start')
    state = _facet_value(facets, ALARM_STATE, STATES, 'active')
    occurred_at = observation_time(obx, index, header_time)
    if not event_code:
        raise HL7Error.missing(Location('OBX', index, 3), 'the alarm OBX names no alarm code')
    return DeviceAlarm(event_code=event_code, event_name=event_name, source_code=source_code,
                       priority=None if levels[0] == NOT_AN_ALARM else PRIORITIES[levels[0]], phase=phase,
                       state=state, ended=phase in ENDED_PHASES or state in ENDED_STATES,
                       text=f'{text}: {source_text}' if source_text else text, occurred_at=occurred_at)


def _facet_value(facets: dict[str, tuple[int, Any]], code: str, allowed: frozenset[str], default: str) -> str:
    if code not in facets:
        return default
    index, obx = facets[code]
    value = field(obx, 5).strip().lower()
    if value not in allowed:
        raise HL7Error.bad(Location('OBX', index, 5), f'"{field(obx, 5)}" is not one of {", ".join(sorted(allowed))}',
                           code=HL7Error.TABLE_VALUE)
    return value


def _label(code: str, name: str) -> str:
    if code in VITAL_CODES:
        return VITAL_SPECS[VITAL_CODES[code][0]].label
    return name.removeprefix('MDC_').replace('_', ' ').lower() if name else code
