"""FHIR R4 vital-sign Observations to Vigil readings (LOINC and SNOMED CT codes, UCUM units, the patient by MRN)."""


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

from .readings import ReadingIn, WireValue, to_domain

ACCEPTED_OBSERVATIONS = """Record the reading(s) of one vital-sign Observation.

Accepted: status final, amended, corrected or preliminary; code with a LOINC coding of heart rate (8867-4),
respiratory rate (9279-1), SpO2 (2708-6 or 59408-5), temperature (8310-5, "Cel" or "[degF]"), systolic (8480-6) or
diastolic (8462-4) pressure, or the blood pressure panel 85354-9 with those two as components; valueQuantity with
the UCUM unit in `code`; effectiveDateTime with time and timezone, effectiveInstant, or effectivePeriod (its end,
or its start when open); the patient as `subject.identifier` whose value is the MRN, or `subject.reference`
"Patient?identifier=[system|]MRN". Temperatures in [degF] are stored in Cel, rounded to 0.01.

Answers: 201 with the Observation as stored (Vigil keeps readings, not resources: its id, codes, values in Vigil's
units, patient and time; Location names it; `If-None-Exist` makes the create conditional, 200 with the match;
`Prefer: return=minimal` leaves the body out), 400 OperationOutcome for invalid FHIR, 422 for valid FHIR that Vigil
cannot accept (unknown code, answer, unit or patient, an impossible value, a time without timezone).

NEWS2's other two parameters are coded as NHS England's NEWS2 FHIR guidance and UK Core code them, in SNOMED CT
(system http://snomed.info/sct). Level of consciousness: code 1104441000000107 (ACVPU scale) with a
valueCodeableConcept of 248234008 (alert), 130987000 (acute confusion, NEWS2's new confusion), 300202002 (responds
to voice), 450847001 (responds to pain) or 422768004 (unresponsive). Air or oxygen: code 722742002 (breathing room
air) or 371825009 (patient on oxygen), with no value or with the oxygen flow as valueQuantity in "L/min" (which must
agree with the code). Oxygen may also be sent as LOINC 3151-8, inhaled oxygen flow rate in "L/min" (above 0 is on
oxygen), or 3150-0, inhaled oxygen concentration in "%" (above 21 is on oxygen).
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

# The two NEWS2 parameters that are not measured quantities, coded as NHS England's NEWS2 FHIR guidance
# (https://nhsconnect.github.io/FHIR-NEWS2/news2_acvpu_guidance.html and news2_inspiredoxygen_guidance.html, STU3
# CareConnect) and its R4 successor UK Core (UKCore-Observation-ACVPU and UKCore-Observation-InspiredOxygen, value
# sets https://fhir.hl7.org.uk/ValueSet/UKCore-ACVPU and UKCore-InspiredOxygen) code them.
SNOMED = 'http://snomed.info/sct'
ACVPU_SCALE = '1104441000000107'  # Alert Confusion Voice Pain Unresponsive scale score; the answer is the value
ACVPU_ANSWERS: dict[str, tuple[str, str]] = {  # SNOMED CT answer: the ACVPU letter Vigil receives, and its meaning
    '248234008': ('A', 'mentally alert'),
    '130987000': ('C', 'acute confusion'),  # NEWS2's "new confusion"
    '300202002': ('V', 'responds to voice'),
    '450847001': ('P', 'responds to pain'),
    '422768004': ('U', 'unresponsive'),
}
# Not LOINC 67775-7 (level of responsiveness): its answers are AVPU, without new confusion, so its "alert" cannot
# tell a newly confused patient (NEWS2 3 points) from an alert one.
# A "code-only" Observation in the NEWS2 guidance; UK Core adds the flow as an optional valueQuantity in L/min.
AIR_OR_OXYGEN: dict[str, bool] = {'722742002': False, '371825009': True}  # breathing room air, patient on oxygen
# LOINC alternatives (the inspired-oxygen components of HL7's US Core pulse-oximetry profile): any oxygen flow, or an
# inspired concentration above room air's 21 %, is supplemental oxygen.
O2_FLOW, O2_CONCENTRATION = '3151-8', '3150-0'
FLOW_UNITS = ('L/min', 'l/min')  # UCUM has both symbols for the litre
ROOM_AIR_FIO2 = 21.0
LOWEST_FIO2 = 20.0  # room air is 20.9 %; a lower value is a hypoxic mixture no ward gives: refused as wrong
Value = tuple[VitalKind, Quantity | WireValue, str]  # a reading's kind, its value as sent, and where it is (FHIRPath)


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
    for kind, value, path in values:
        try:
            wire, unit = _number(value) if isinstance(value, Quantity) else (value, None)
            readings.append(to_domain(ReadingIn(patient_mrn=mrn, kind=kind, value=wire, unit=unit,
                                                measured_at=measured_at), now))
        except ValueError as error:
            issues.append(Issue('value', _sentence(error), path))
    if issues:
        raise FhirRejected(issues)
    return readings


def _number(quantity: Quantity) -> tuple[float, str]:
    unit = quantity.code if quantity.system in (None, UCUM) else None
    if unit is None:
        raise ValueError(f'the unit must be a UCUM code in valueQuantity.code (system {UCUM})')
    if quantity.value is None:
        raise ValueError('valueQuantity has no value')
    return float(quantity.value), unit


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
    """Return when a vital sign was measured: effectiveDateTime or effectiveInstant, or the end of effectivePeriod
    (its start when it has no end), which must have a time of day and a timezone."""
    value: Any = observation.effectiveDateTime or observation.effectiveInstant
    path = f'{where}.effectiveDateTime'
    period = observation.effectivePeriod
    if value is None and period is not None:
        value, path = (period.end, f'{where}.effectivePeriod.end') if period.end else (
            period.start, f'{where}.effectivePeriod.start')
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, date):
        issues.append(Issue('value', f'{path.rsplit(".", 1)[-1]} {value.isoformat()} is a date without a time of '
                                     'day: a vital sign needs the time it was measured, with a timezone (such as '
                                     f'{value.isoformat()}T08:30:00+01:00).', path))
    else:
        issues.append(Issue('required', 'A vital sign needs the time it was measured: effectiveDateTime (with time '
                                        'and timezone), effectiveInstant or effectivePeriod.', f'{where}.effective'))
    return None


def _values(observation: Observation, issues: list[Issue], where: str) -> list[Value]:
    codes = _codes(observation.code)
    if BP_PANEL in codes:
        found: list[Value] = []
        for index, component in enumerate(observation.component or []):
            kind = next((LOINC_KINDS[c] for c in _codes(component.code) if c in ('8480-6', '8462-4')), None)
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
        return _coded_parameter(observation, codes, issues, where)
    if observation.valueQuantity is None:
        issues.append(Issue('required', 'A vital sign needs a valueQuantity.', f'{where}.value'))
        return []
    return [(kind, observation.valueQuantity, f'{where}.valueQuantity')]


def _coded_parameter(observation: Observation, loinc: list[str], issues: list[Issue], where: str) -> list[Value]:
    """Return consciousness or air or oxygen, the NEWS2 parameters sent as codes, or refuse an unknown code."""
    snomed = _codes(observation.code, SNOMED)
    if ACVPU_SCALE in snomed:
        return _consciousness(observation, issues, where)
    if {O2_FLOW, O2_CONCENTRATION} & set(loinc) or AIR_OR_OXYGEN.keys() & set(snomed):
        return _oxygen(observation, O2_CONCENTRATION in loinc, issues, where)
    issues.append(Issue('not-supported', 'Observation.code has no LOINC code of a vital sign Vigil records (one of '
                                         f'{", ".join([*LOINC_KINDS, BP_PANEL, O2_FLOW, O2_CONCENTRATION])}) nor a '
                                         f'SNOMED CT code of ACVPU ({ACVPU_SCALE}) or of air or oxygen '
                                         f'({", ".join(AIR_OR_OXYGEN)}).', f'{where}.code'))
    return []


def _consciousness(observation: Observation, issues: list[Issue], where: str) -> list[Value]:
    """Return the ACVPU letter of an ACVPU scale Observation, whose answer is a SNOMED CT valueCodeableConcept."""
    choices = ', '.join(f'{code} ({meaning})' for code, (_, meaning) in ACVPU_ANSWERS.items())
    if observation.valueCodeableConcept is None:
        issues.append(Issue('required', f'An ACVPU Observation ({ACVPU_SCALE}) needs its answer as a '
                                        f'valueCodeableConcept: one of {choices}.', f'{where}.value'))
        return []
    answers = _codes(observation.valueCodeableConcept, SNOMED)
    unknown = [code for code in answers if code not in ACVPU_ANSWERS]
    letters = {ACVPU_ANSWERS[code][0] for code in answers if code in ACVPU_ANSWERS}
    problem = (f'The ACVPU answer needs a SNOMED CT coding (system {SNOMED})' if not answers
               else f'SNOMED CT {", ".join(unknown)} is not an ACVPU answer Vigil can score' if unknown
               else f'The ACVPU answer has codings of different levels ({", ".join(sorted(letters))})'
               if len(letters) > 1 else None)
    if problem:
        issues.append(Issue('value', f'{problem}; send one of {choices}.', f'{where}.valueCodeableConcept'))
        return []
    return [(VitalKind.CONSCIOUSNESS, letters.pop(), f'{where}.valueCodeableConcept')]


def _oxygen(observation: Observation, concentration: bool, issues: list[Issue], where: str) -> list[Value]:
    """Return whether the patient is on oxygen: by SNOMED CT code (the NEWS2 guidance's code-only Observation, or UK
    Core's with the flow as its value), or by an inhaled oxygen flow rate (LOINC 3151-8) or concentration (3150-0)."""
    stated = {AIR_OR_OXYGEN[code] for code in _codes(observation.code, SNOMED) if code in AIR_OR_OXYGEN}
    if len(stated) > 1:
        issues.append(Issue('value', 'Observation.code says both breathing room air and on oxygen.', f'{where}.code'))
        return []
    quantity = observation.valueQuantity
    if quantity is None:
        if not stated:
            issues.append(Issue('required', 'An inhaled oxygen flow rate or concentration needs a valueQuantity.',
                                f'{where}.value'))
        return [(VitalKind.ON_OXYGEN, stated.pop(), f'{where}.code')] if stated else []
    path = f'{where}.valueQuantity'
    try:
        measured = _supplemental(quantity, concentration)
    except ValueError as error:
        issues.append(Issue('value', _sentence(error), path))
        return []
    if stated and measured not in stated:
        issues.append(Issue('value', f'valueQuantity {quantity.value} {quantity.code} contradicts Observation.code ('
                                     f'{"on oxygen" if stated.pop() else "breathing room air"}).', path))
        return []
    return [(VitalKind.ON_OXYGEN, measured, path)]


def _supplemental(quantity: Quantity, concentration: bool) -> bool:
    """Return whether an inhaled oxygen flow ("L/min") or concentration ("%") means supplemental oxygen."""
    value, unit = _number(quantity)  # finite: fhir.resources refuses NaN and Infinity as decimals (400)
    if concentration:
        if unit != '%':
            raise ValueError(f'an inhaled oxygen concentration must be sent in "%", not "{unit}"')
        if not LOWEST_FIO2 <= value <= 100:
            raise ValueError(f'an inhaled oxygen concentration of {value:g} % is not possible (room air is 21 %)')
        return value > ROOM_AIR_FIO2
    if unit not in FLOW_UNITS:
        raise ValueError(f'an inhaled oxygen flow rate must be sent in "L/min", not "{unit}"')
    if value < 0:
        raise ValueError(f'an inhaled oxygen flow rate of {value:g} L/min is not possible')
    return value > 0


def _codes(concept: CodeableConcept | None, system: str = LOINC) -> list[str]:
    return [str(c.code) for c in (concept.coding or []) if c.system == system and c.code] if concept else []
