"""FHIR R4 vital-sign Observations to Vigil readings (LOINC codes, UCUM units, the patient by MRN)."""


from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qs

from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.quantity import Quantity
from fhir.resources.R4B.reference import Reference
from pydantic import ValidationError

from app.domain import VitalKind
from app.errors import InvalidInput
from app.schemas import VitalReadingIn

from .readings import ReadingIn, to_domain

ACCEPTED_OBSERVATIONS = """Record the reading(s) of one vital-sign Observation.

Accepted: status final, amended, corrected or preliminary; code with a LOINC coding of heart rate (8867-4),
respiratory rate (9279-1), SpO2 (2708-6 or 59408-5), temperature (8310-5, "Cel" or "[degF]"), systolic (8480-6) or
diastolic (8462-4) pressure, or the blood pressure panel 85354-9 with those two as components; valueQuantity with
the UCUM unit in `code`; effectiveDateTime with time and timezone, or effectiveInstant; the patient as
`subject.identifier` whose value is the MRN, or `subject.reference` "Patient?identifier=[system|]MRN".
Temperatures in [degF] are stored in Cel, rounded to 0.01. Answers: 201 with the Observation as accepted (Vigil
keeps readings, not resources: no server id), 400 OperationOutcome for invalid FHIR, 422 for valid FHIR that
Vigil cannot accept (unknown code, unit or patient, an impossible value, a time without timezone).
"""

LOINC = 'http://loinc.org'
UCUM = 'http://unitsofmeasure.org'
BP_PANEL = '85354-9'
LOINC_KINDS: dict[str, VitalKind] = {
    '8867-4': VitalKind.HEART_RATE,
    '9279-1': VitalKind.RESP_RATE,
    '2708-6': VitalKind.SPO2,
    '59408-5': VitalKind.SPO2,
    '8480-6': VitalKind.SYSTOLIC_BP,
    '8462-4': VitalKind.DIASTOLIC_BP,
    '8310-5': VitalKind.TEMPERATURE,
}
MEASURED_STATUSES = ('final', 'amended', 'corrected', 'preliminary')


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome issue: FHIR issue code, what is wrong, and where (a FHIRPath)."""

    code: str
    diagnostics: str
    expression: str


class FhirRejected(InvalidInput):
    """The resource cannot be accepted; status is 400 (not valid FHIR) or 422 (valid FHIR, not acceptable here)."""

    def __init__(self, issues: list[Issue], status: int = 422) -> None:
        super().__init__('; '.join(i.diagnostics for i in issues))
        self.issues = issues
        self.status = status


def parse_observation(raw: Any, where: str = 'Observation') -> Observation:
    """Validate a JSON resource as an R4 Observation, or raise FhirRejected (400) with each structural error."""
    if not isinstance(raw, dict) or raw.get('resourceType') != 'Observation':
        kind = raw.get('resourceType') if isinstance(raw, dict) else type(raw).__name__
        raise FhirRejected([Issue('not-supported', f'Expected an Observation resource, not {kind!r}.', where)], 400)
    try:
        return Observation.model_validate(raw)
    except ValidationError as error:
        raise FhirRejected([Issue('structure', str(e['msg']), fhir_path(where, e['loc']))
                            for e in error.errors()], 400) from None


def fhir_path(where: str, loc: tuple[int | str, ...]) -> str:
    """Turn a pydantic error location into a FHIRPath such as Observation.component[0].valueQuantity."""
    path = where
    for part in loc:
        path += f'[{part}]' if isinstance(part, int) else f'.{part}'
    return path


def readings_of(observation: Observation, now: datetime, where: str = 'Observation') -> list[VitalReadingIn]:
    """Return the readings an Observation carries, or raise FhirRejected (422) naming every problem."""
    issues: list[Issue] = []
    if observation.status not in MEASURED_STATUSES:
        issues.append(Issue('business-rule', f'status "{observation.status}" is not a measurement Vigil can use; '
                                             f'send one of {", ".join(MEASURED_STATUSES)}.', f'{where}.status'))
    mrn = _mrn(observation.subject, issues, f'{where}.subject')
    measured_at = _effective(observation, issues, where)
    values = _values(observation, issues, where)
    if issues or mrn is None or measured_at is None:
        raise FhirRejected(issues)
    readings = []
    for kind, quantity, path in values:
        try:
            unit = quantity.code if quantity.system in (None, UCUM) else None
            if unit is None:
                raise ValueError(f'the unit must be a UCUM code in valueQuantity.code (system {UCUM})')
            if quantity.value is None:
                raise ValueError('valueQuantity has no value')
            readings.append(to_domain(ReadingIn(patient_mrn=mrn, kind=kind, value=float(quantity.value), unit=unit,
                                                measured_at=measured_at), now))
        except ValueError as error:
            issues.append(Issue('value', _sentence(error), path))
    if issues:
        raise FhirRejected(issues)
    return readings


def _sentence(error: ValueError) -> str:
    text = '; '.join(str(e['msg']) for e in error.errors()) if isinstance(error, ValidationError) else str(error)
    return text[:1].upper() + text[1:] + ('' if text.endswith('.') else '.')


def _mrn(subject: Reference | None, issues: list[Issue], path: str) -> str | None:
    if subject is not None and subject.identifier is not None and subject.identifier.value:
        return str(subject.identifier.value).strip()
    reference = (subject.reference or '') if subject is not None else ''
    if reference.startswith('Patient?'):
        values = parse_qs(reference.removeprefix('Patient?')).get('identifier', [])
        if len(values) == 1 and values[0].rsplit('|', 1)[-1].strip():
            return values[0].rsplit('|', 1)[-1].strip()
    issues.append(Issue('not-found', 'Vigil finds the patient by MRN: send subject.identifier with the MRN as its '
                                     'value, or subject.reference "Patient?identifier=<MRN>"'
                                     + (f'; "{reference}" cannot be resolved.' if reference else '.'), path))
    return None


def _effective(observation: Observation, issues: list[Issue], where: str) -> datetime | None:
    value: Any = observation.effectiveDateTime or observation.effectiveInstant
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, date):
        issues.append(Issue('value', f'effectiveDateTime {value.isoformat()} has no time of day; a vital sign needs '
                                     'the time it was measured, with a timezone.', f'{where}.effectiveDateTime'))
    else:
        issues.append(Issue('required', 'A vital sign needs effectiveDateTime (with time and timezone) or '
                                        'effectiveInstant.', f'{where}.effective'))
    return None


def _values(observation: Observation, issues: list[Issue], where: str) -> list[tuple[VitalKind, Quantity, str]]:
    codes = _loinc(observation.code)
    if BP_PANEL in codes:
        found = []
        for index, component in enumerate(observation.component or []):
            kind = next((LOINC_KINDS[c] for c in _loinc(component.code) if c in ('8480-6', '8462-4')), None)
            path = f'{where}.component[{index}]'
            if kind is None:
                continue  # other components (mean pressure, cuff size) are not part of Vigil's vitals
            if component.valueQuantity is None:
                issues.append(Issue('required', 'The blood pressure component has no valueQuantity.', path))
            else:
                found.append((kind, component.valueQuantity, f'{path}.valueQuantity'))
        if not found and not issues:
            issues.append(Issue('required', 'The blood pressure panel has no systolic (8480-6) or diastolic (8462-4) '
                                            'component with a value.', f'{where}.component'))
        return found
    kind = next((LOINC_KINDS[c] for c in codes if c in LOINC_KINDS), None)
    if kind is None:
        issues.append(Issue('not-supported', 'Observation.code has no LOINC code of a vital sign Vigil records: '
                                             'one of ' + ', '.join([*LOINC_KINDS, BP_PANEL]) + '.', f'{where}.code'))
        return []
    if observation.valueQuantity is None:
        issues.append(Issue('required', 'A vital sign needs a valueQuantity.', f'{where}.value'))
        return []
    return [(kind, observation.valueQuantity, f'{where}.valueQuantity')]


def _loinc(concept: CodeableConcept | None) -> list[str]:
    return [str(c.code) for c in (concept.coding or []) if c.system == LOINC and c.code] if concept else []
