"""FHIR search parameters of Observation and Patient, turned into Vigil's queries.

Unknown or unsupported parameters are refused (400), not ignored as a lenient server may: a filter that is silently
dropped would show a clinician readings of other patients or other times than asked for.
"""

import calendar
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from app.domain import VitalKind
from app.services.observation_records import BLOOD_PRESSURE, MAX_COUNT, ON_AIR, ON_OXYGEN, ObservationQuery

from .fhir_mapping import ACVPU_SCALE, AIR_OR_OXYGEN, BP_PANEL, LOINC, LOINC_KINDS, SNOMED, FhirRejected, Issue
from .fhir_resources import CATEGORY_SYSTEM

DEFAULT_COUNT = 50
PAGING = ('_count', '_sort', '_offset')
IGNORED = ('_format',)  # answered by content negotiation before any search
DATE = re.compile(r'^(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})(?P<time>T.+)?)?)?$')
PREFIXES = ('eq', 'ge', 'gt', 'le', 'lt')
T = TypeVar('T')


@dataclass
class ObservationSearch:
    """A parsed Observation search: patients by id or by MRN still to be looked up, and the query."""

    patient_ids: list[int] | None = None
    mrns: list[str] | None = None
    codes: list[VitalKind | str] = field(default_factory=list)
    since: list[datetime] = field(default_factory=list)
    until: list[datetime] = field(default_factory=list)
    nothing: bool = False
    newest_first: bool = True
    offset: int = 0
    count: int = DEFAULT_COUNT

    def query(self, patient_ids: Sequence[int] | None) -> ObservationQuery:
        return ObservationQuery(patient_ids=patient_ids, codes=self.codes, since=self.since, until=self.until,
                                newest_first=self.newest_first, offset=self.offset, count=self.count,
                                nothing=self.nothing)


def bad(name: str, message: str, code: str = 'invalid') -> FhirRejected:
    return FhirRejected([Issue(code, message, name)], 400)


def observation_search(params: Sequence[tuple[str, str]]) -> ObservationSearch:
    """Parse the search parameters of GET Observation (or of If-None-Exist), or raise FhirRejected (400)."""
    search = ObservationSearch()
    for name, value in printable(params):
        base, _, modifier = name.partition(':')
        if base in IGNORED:
            continue
        if base in ('patient', 'subject') and modifier == 'identifier':
            search.mrns = _intersect(search.mrns, [v.rsplit('|', 1)[-1].strip() for v in value.split(',')])
        elif base in ('patient', 'subject') and modifier in ('', 'Patient'):
            search.patient_ids = _intersect(search.patient_ids, [_patient_id(name, v) for v in value.split(',')])
        elif base == 'code' and not modifier:
            codes = [_code(v) for v in value.split(',')]
            search.codes = [c for c in codes if c is not None]
            search.nothing |= not search.codes
        elif base == 'date' and not modifier:
            _date(search, value)
        elif base == 'category' and not modifier:
            search.nothing |= not any(v.rsplit('|', 1)[-1] == 'vital-signs' and v.rsplit('|', 1)[0] in (
                v, CATEGORY_SYSTEM, '') for v in value.split(','))
        elif name == '_count':
            search.count = _number(name, value, 1, MAX_COUNT)
        elif name == '_offset':
            search.offset = _number(name, value, 0, 10**9)
        elif name == '_sort':
            if value not in ('date', '-date'):
                raise bad(name, f'_sort may be date or -date (newest first), not "{value}".', 'not-supported')
            search.newest_first = value == '-date'
        else:
            raise bad(name, f'Observation search parameter "{name}" is not supported; supported: patient, '
                            'patient:identifier, subject, subject:identifier, code, date, category, _count, _sort.',
                      'not-supported')
    return search


def patient_search(params: Sequence[tuple[str, str]]) -> tuple[list[str] | None, list[int] | None]:
    """Parse the search parameters of GET Patient: MRNs (identifier) and ids (_id)."""
    mrns: list[str] | None = None
    ids: list[int] | None = None
    for name, value in printable(params):
        if name in IGNORED:
            continue
        if name == 'identifier':
            mrns = _intersect(mrns, [v.rsplit('|', 1)[-1].strip() for v in value.split(',')])
        elif name == '_id':
            ids = _intersect(ids, [_patient_id(name, v) for v in value.split(',')])
        else:
            raise bad(name, f'Patient search parameter "{name}" is not supported; supported: identifier, _id.',
                      'not-supported')
    return mrns, ids


def printable(params: Sequence[tuple[str, str]]) -> Sequence[tuple[str, str]]:
    """Return the parameters, or refuse (400) any with a control character (no MRN or code has one)."""
    for name, value in params:
        if any(ord(c) < 32 or ord(c) == 127 for c in name + value):
            raise bad(name, f'Search parameter {name!r} has a control character in its name or value.')
    return params


def _intersect(old: list[T] | None, new: list[T]) -> list[T]:
    return new if old is None else [v for v in old if v in new]


def _patient_id(name: str, value: str) -> int:
    number = value.strip().removeprefix('Patient/')
    if not number.isdigit() or int(number) >= 2**31:  # Patient ids are 32-bit
        raise bad(name, f'"{value}" is not a Patient of this server (Patient/[id]); to find a patient by MRN use '
                        f'{name.partition(":")[0]}:identifier=[system|]MRN.')
    return int(number)


def _code(value: str) -> VitalKind | str | None:
    system, _, code = value.rpartition('|')
    if system in ('', LOINC) and code == BP_PANEL:
        return BLOOD_PRESSURE
    if system in ('', LOINC) and code in LOINC_KINDS:
        return LOINC_KINDS[code]
    if system in ('', SNOMED) and code == ACVPU_SCALE:
        return VitalKind.CONSCIOUSNESS
    if system in ('', SNOMED) and code in AIR_OR_OXYGEN:  # the code an "on oxygen" reading is read back with
        return ON_OXYGEN if AIR_OR_OXYGEN[code] else ON_AIR
    return None  # a code no Observation here has: the search finds nothing


def _number(name: str, value: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise bad(name, f'{name} must be a whole number from {low} to {high}, not "{value}".')
    return int(value)


def _date(search: ObservationSearch, value: str) -> None:
    prefixed = value[:2] in (*PREFIXES, 'ne', 'sa', 'eb', 'ap')
    prefix, text = (value[:2], value[2:]) if prefixed else ('eq', value)
    if prefix not in PREFIXES:
        raise bad('date', f'The date prefix "{prefix}" is not supported; use one of {", ".join(PREFIXES)}.',
                  'not-supported')
    start, end = date_range(text)
    if prefix in ('eq', 'ge'):
        search.since.append(start)
    if prefix == 'gt':
        search.since.append(end)
    if prefix in ('eq', 'le'):
        search.until.append(end)
    if prefix == 'lt':
        search.until.append(start)


def date_range(text: str) -> tuple[datetime, datetime]:
    """Return the instants [start, end) a FHIR date or dateTime stands for (2026-03 is all of March, in UTC)."""
    match = DATE.match(text)
    try:
        if match is None:
            raise ValueError(text)
        year, month, day = int(match['year']), int(match['month'] or 1), int(match['day'] or 1)
        if match['time']:
            moment = datetime.fromisoformat(text.replace('Z', '+00:00'))
            moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            return moment, moment + (timedelta(seconds=1) if moment.microsecond == 0 else timedelta(microseconds=1))
        start = datetime(year, month, day, tzinfo=UTC)
    except ValueError:
        raise bad('date', f'"{text}" is not a FHIR date or dateTime (such as 2026-03-02 or '
                          f'2026-03-02T08:00:00Z).') from None
    if match['day']:
        return start, start + timedelta(days=1)
    if match['month']:
        return start, start + timedelta(days=calendar.monthrange(year, month)[1])
    return start, start.replace(year=year + 1)
