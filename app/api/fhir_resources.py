"""What Vigil's FHIR endpoint answers with: stored readings as Observations, patients as Patients, the searchset
Bundle, and the CapabilityStatement that says exactly what is supported."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from app.domain import VitalKind
from app.services.observation_records import ObservationRecord, PatientRecord

from .fhir_mapping import ACVPU_ANSWERS, ACVPU_SCALE, AIR_OR_OXYGEN, BP_PANEL, LOINC, SNOMED, UCUM
from .readings import wire_value

VITAL_SIGNS_PROFILE = 'http://hl7.org/fhir/StructureDefinition/vitalsigns'
CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/observation-category'
VITAL_SIGNS = {'coding': [{'system': CATEGORY_SYSTEM, 'code': 'vital-signs', 'display': 'Vital Signs'}],
               'text': 'Vital Signs'}
MRN_TYPE = {'coding': [{'system': 'http://terminology.hl7.org/CodeSystem/v2-0203', 'code': 'MR',
                        'display': 'Medical record number'}]}
# The LOINC code Vigil answers with per kind (59408-5, SpO2 by pulse oximetry, is accepted and stored as SpO2, then
# answered as 2708-6, the code the vital-signs profile requires), with its display and the unit's display.
LOINC_OF: dict[VitalKind, tuple[str, str, str]] = {
    VitalKind.HEART_RATE: ('8867-4', 'Heart rate', 'beats/minute'),
    VitalKind.RESP_RATE: ('9279-1', 'Respiratory rate', 'breaths/minute'),
    VitalKind.SPO2: ('2708-6', 'Oxygen saturation in Arterial blood', '%'),
    VitalKind.TEMPERATURE: ('8310-5', 'Body temperature', 'C'),
    VitalKind.SYSTOLIC_BP: ('8480-6', 'Systolic blood pressure', 'mmHg'),
    VitalKind.DIASTOLIC_BP: ('8462-4', 'Diastolic blood pressure', 'mmHg'),
}
ACVPU_CODE_OF = {letter: (code, meaning) for code, (letter, meaning) in ACVPU_ANSWERS.items()}
OXYGEN_CODE_OF = {on: code for code, on in AIR_OR_OXYGEN.items()}
OXYGEN_DISPLAY = {'722742002': 'Breathing room air', '371825009': 'Patient on oxygen'}


def instant(moment: datetime) -> str:
    """Return a FHIR instant in UTC (2026-03-02T08:00:00Z)."""
    return moment.astimezone(UTC).isoformat().replace('+00:00', 'Z')


def version_tag() -> str:
    """Return the ETag of a stored Observation: readings are never changed, so every one is at version 1."""
    return 'W/"1"'


def _loinc_concept(kind: VitalKind) -> dict[str, Any]:
    code, display, _ = LOINC_OF[kind]
    return {'coding': [{'system': LOINC, 'code': code, 'display': display}], 'text': display}


def _quantity(kind: VitalKind, value: float, unit: str) -> dict[str, Any]:
    return {'value': value, 'unit': LOINC_OF[kind][2], 'system': UCUM, 'code': unit}


def patient_reference(patient_id: int, mrn: str) -> dict[str, Any]:
    """Return the subject of an Observation: Vigil's Patient, with the MRN as its identifier."""
    return {'reference': f'Patient/{patient_id}', 'identifier': {'type': MRN_TYPE, 'value': mrn}}


def observation_resource(record: ObservationRecord) -> dict[str, Any]:
    """Return a stored Observation as FHIR JSON: what Vigil keeps of it, in Vigil's units."""
    resource: dict[str, Any] = {
        'resourceType': 'Observation', 'id': record.id,
        'meta': {'versionId': '1', 'lastUpdated': instant(record.recorded_at)},
        # NOTE: Vigil accepts final, amended, corrected and preliminary (fhir_mapping.MEASURED_STATUSES) and keeps the
        # value, not the status: a reading it alerts on is one it treats as final.
        'status': 'final', 'category': [VITAL_SIGNS]}
    values = {value.kind: value for value in record.values}
    subject = patient_reference(record.patient_id, record.mrn)
    effective = {'effectiveDateTime': instant(record.measured_at)}
    if record.panel:
        resource['meta']['profile'] = [VITAL_SIGNS_PROFILE]
        resource['code'] = {'coding': [{'system': LOINC, 'code': BP_PANEL,
                                        'display': 'Blood pressure panel with all children optional'}],
                            'text': 'Blood pressure systolic & diastolic'}
        resource |= {'subject': subject, **effective, 'component': [
            {'code': _loinc_concept(kind), 'valueQuantity': _quantity(kind, values[kind].value, values[kind].unit)}
            for kind in (VitalKind.SYSTOLIC_BP, VitalKind.DIASTOLIC_BP) if kind in values]}
        return resource
    [value] = record.values
    if value.kind in LOINC_OF:
        resource['meta']['profile'] = [VITAL_SIGNS_PROFILE]
        return resource | {'code': _loinc_concept(value.kind), 'subject': subject, **effective,
                           'valueQuantity': _quantity(value.kind, value.value, value.unit)}
    if value.kind is VitalKind.CONSCIOUSNESS:
        answer, meaning = ACVPU_CODE_OF[str(wire_value(value.kind, value.value))]
        return resource | {
            'code': {'coding': [{'system': SNOMED, 'code': ACVPU_SCALE,
                                 'display': 'Alert Confusion Voice Pain Unresponsive scale score'}]},
            'subject': subject, **effective,
            'valueCodeableConcept': {'coding': [{'system': SNOMED, 'code': answer}], 'text': meaning}}
    code = OXYGEN_CODE_OF[bool(value.value)]
    return resource | {'code': {'coding': [{'system': SNOMED, 'code': code, 'display': OXYGEN_DISPLAY[code]}]},
                       'subject': subject, **effective}


def patient_resource(patient: PatientRecord) -> dict[str, Any]:
    """Return a patient as FHIR JSON: Vigil's id, the MRN and the name as the ward knows it."""
    return {'resourceType': 'Patient', 'id': str(patient.id), 'meta': {'versionId': '1'},
            'identifier': [{'use': 'usual', 'type': MRN_TYPE, 'value': patient.mrn}],
            'active': True, 'name': [{'text': patient.name}]}


def searchset(base: str, resources: Sequence[dict[str, Any]], links: dict[str, str]) -> dict[str, Any]:
    """Return a searchset Bundle of these resources, with its paging links."""
    bundle: dict[str, Any] = {'resourceType': 'Bundle', 'type': 'searchset',
                              'link': [{'relation': relation, 'url': url} for relation, url in links.items()]}
    if resources:  # FHIR has no empty arrays: a search that finds nothing has no entry at all
        bundle['entry'] = [{'fullUrl': f'{base}/{r["resourceType"]}/{r["id"]}', 'resource': r,
                            'search': {'mode': 'match'}} for r in resources]
    return bundle


OBSERVATION_SEARCH = {
    'patient': ('reference', 'The patient: Patient/[id], or patient:identifier=[system|]MRN'),
    'subject': ('reference', 'The same as patient (only Patients are subjects here); subject:identifier=[system|]MRN'),
    'code': ('token', 'LOINC (8867-4, 9279-1, 2708-6, 59408-5, 8310-5, 8480-6, 8462-4, 85354-9) or SNOMED CT '
                      f'{ACVPU_SCALE} (ACVPU); several separated by commas'),
    'date': ('date', 'When it was measured; prefixes eq (default), ge, gt, le, lt; may be repeated for a range; a '
                     'date or time without a timezone is read as UTC'),
    'category': ('token', 'vital-signs (every Observation Vigil holds is one)'),
}


def capability_statement(base: str, now: datetime, version: str) -> dict[str, Any]:
    """Return the CapabilityStatement: exactly the interactions and search parameters this server supports."""
    def params(spec: dict[str, tuple[str, str]]) -> list[dict[str, str]]:
        return [{'name': name, 'type': kind, 'documentation': text} for name, (kind, text) in spec.items()]

    return {
        'resourceType': 'CapabilityStatement', 'status': 'active', 'date': instant(now), 'kind': 'instance',
        'name': 'VigilFhirServer', 'title': 'Vigil FHIR R4 endpoint for vital signs',
        'software': {'name': 'Vigil', 'version': version},
        'implementation': {'description': 'Vital-sign Observations of one hospital (the API token\'s)', 'url': base},
        'fhirVersion': '4.0.1', 'format': ['json'], 'patchFormat': [],
        'rest': [{
            'mode': 'server',
            'documentation': 'Every request needs an API token (Authorization: Bearer), except this statement. '
                             'Errors are OperationOutcomes. XML is not supported (406).',
            'security': {'cors': False, 'description': 'Bearer API tokens of one hospital: device and integration '
                                                       'tokens write, every kind of token reads.'},
            'resource': [
                {'type': 'Observation', 'profile': VITAL_SIGNS_PROFILE,
                 'interaction': [{'code': 'create'}, {'code': 'read'}, {'code': 'search-type'}],
                 'versioning': 'no-version', 'readHistory': False, 'updateCreate': False,
                 'conditionalCreate': True, 'conditionalRead': 'not-supported', 'conditionalUpdate': False,
                 'conditionalDelete': 'not-supported',
                 'searchParam': params(OBSERVATION_SEARCH)},
                {'type': 'Patient', 'interaction': [{'code': 'read'}, {'code': 'search-type'}],
                 'versioning': 'no-version', 'readHistory': False, 'updateCreate': False,
                 'conditionalCreate': False, 'conditionalRead': 'not-supported', 'conditionalUpdate': False,
                 'conditionalDelete': 'not-supported',
                 'searchParam': params({'identifier': ('token', 'The MRN: [system|]MRN (the system is not kept)'),
                                        '_id': ('token', "Vigil's id of the patient")})},
            ],
            'interaction': [{'code': 'transaction'}, {'code': 'batch'}],
            'searchParam': params({'_count': ('number', 'Observations per page, 1-1000 (default 50)'),
                                   '_sort': ('string', 'date or -date (the default: newest first)')}),
        }],
    }
