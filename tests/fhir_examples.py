"""The vital-sign example Observations of the FHIR R4 (4.0.1) specification, as data: observation-example-heart-rate,
-respiratory-rate, -bodytemp, -bloodpressure and -satO2 (hl7.org/fhir/R4/observation-examples.html), without their
generated narrative. Four of the five are measured on a date without a time of day, which Vigil refuses for a vital
sign; MEASURED_EXAMPLES are the same resources with a time, about a patient Vigil knows (tests fill that in)."""

from typing import Any

VITAL_SIGNS_CATEGORY = [{'coding': [{'system': 'http://terminology.hl7.org/CodeSystem/observation-category',
                                     'code': 'vital-signs', 'display': 'Vital Signs'}], 'text': 'Vital Signs'}]
HEART_RATE_EXAMPLE: dict[str, Any] = {
    'resourceType': 'Observation',
    'id': 'heart-rate',
    'meta': {'profile': ['http://hl7.org/fhir/StructureDefinition/vitalsigns']},
    'status': 'final',
    'category': [{'coding': [{'system': 'http://terminology.hl7.org/CodeSystem/observation-category',
                              'code': 'vital-signs', 'display': 'Vital Signs'}], 'text': 'Vital Signs'}],
    'code': {'coding': [{'system': 'http://loinc.org', 'code': '8867-4', 'display': 'Heart rate'}],
             'text': 'Heart rate'},
    'subject': {'reference': 'Patient/example'},
    'effectiveDateTime': '1999-07-02',
    'valueQuantity': {'value': 44, 'unit': 'beats/minute', 'system': 'http://unitsofmeasure.org', 'code': '/min'},
}
BLOOD_PRESSURE_EXAMPLE: dict[str, Any] = {
    'resourceType': 'Observation',
    'id': 'blood-pressure',
    'meta': {'profile': ['http://hl7.org/fhir/StructureDefinition/vitalsigns']},
    'identifier': [{'system': 'urn:ietf:rfc:3986', 'value': 'urn:uuid:187e0c12-8dd2-67e2-99b2-bf273c878281'}],
    'basedOn': [{'identifier': {'system': 'https://acme.org/identifiers', 'value': '1234'}}],
    'status': 'final',
    'category': [{'coding': [{'system': 'http://terminology.hl7.org/CodeSystem/observation-category',
                              'code': 'vital-signs', 'display': 'Vital Signs'}]}],
    'code': {'coding': [{'system': 'http://loinc.org', 'code': '85354-9',
                         'display': 'Blood pressure panel with all children optional'}],
             'text': 'Blood pressure systolic & diastolic'},
    'subject': {'reference': 'Patient/example'},
    'effectiveDateTime': '2012-09-17',
    'performer': [{'reference': 'Practitioner/example'}],
    'interpretation': [{'coding': [{'system': 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
                                    'code': 'L', 'display': 'low'}], 'text': 'Below low normal'}],
    'bodySite': {'coding': [{'system': 'http://snomed.info/sct', 'code': '368209003', 'display': 'Right arm'}]},
    'component': [
        {'code': {'coding': [{'system': 'http://loinc.org', 'code': '8480-6', 'display': 'Systolic blood pressure'},
                             {'system': 'http://snomed.info/sct', 'code': '271649006',
                              'display': 'Systolic blood pressure'},
                             {'system': 'http://acme.org/devices/clinical-codes', 'code': 'bp-s',
                              'display': 'Systolic Blood pressure'}]},
         'valueQuantity': {'value': 107, 'unit': 'mmHg', 'system': 'http://unitsofmeasure.org', 'code': 'mm[Hg]'},
         'interpretation': [{'coding': [{
             'system': 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', 'code': 'N',
             'display': 'normal'}], 'text': 'Normal'}]},
        {'code': {'coding': [{'system': 'http://loinc.org', 'code': '8462-4', 'display': 'Diastolic blood pressure'}]},
         'valueQuantity': {'value': 60, 'unit': 'mmHg', 'system': 'http://unitsofmeasure.org', 'code': 'mm[Hg]'},
         'interpretation': [{'coding': [{
             'system': 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', 'code': 'L',
             'display': 'low'}], 'text': 'Below low normal'}]},
    ],
}
RESPIRATORY_RATE_EXAMPLE: dict[str, Any] = {
    'resourceType': 'Observation',
    'id': 'respiratory-rate',
    'meta': {'profile': ['http://hl7.org/fhir/StructureDefinition/vitalsigns']},
    'status': 'final',
    'category': VITAL_SIGNS_CATEGORY,
    'code': {'coding': [{'system': 'http://loinc.org', 'code': '9279-1', 'display': 'Respiratory rate'}],
             'text': 'Respiratory rate'},
    'subject': {'reference': 'Patient/example'},
    'effectiveDateTime': '1999-07-02',
    'valueQuantity': {'value': 26, 'unit': 'breaths/minute', 'system': 'http://unitsofmeasure.org', 'code': '/min'},
}
BODY_TEMPERATURE_EXAMPLE: dict[str, Any] = {
    'resourceType': 'Observation',
    'id': 'body-temperature',
    'meta': {'profile': ['http://hl7.org/fhir/StructureDefinition/vitalsigns']},
    'status': 'final',
    'category': VITAL_SIGNS_CATEGORY,
    'code': {'coding': [{'system': 'http://loinc.org', 'code': '8310-5', 'display': 'Body temperature'}],
             'text': 'Body temperature'},
    'subject': {'reference': 'Patient/example'},
    'effectiveDateTime': '1999-07-02',
    'valueQuantity': {'value': 36.5, 'unit': 'C', 'system': 'http://unitsofmeasure.org', 'code': 'Cel'},
}
OXYGEN_SATURATION_EXAMPLE: dict[str, Any] = {
    'resourceType': 'Observation',
    'id': 'satO2',
    'meta': {'profile': ['http://hl7.org/fhir/StructureDefinition/vitalsigns']},
    'identifier': [{'system': 'http://goodcare.org/observation/id', 'value': 'o1223435-10'}],
    'partOf': [{'reference': 'Procedure/ob'}],
    'status': 'final',
    'category': [{'coding': [{'system': 'http://terminology.hl7.org/CodeSystem/observation-category',
                              'code': 'vital-signs', 'display': 'Vital Signs'}], 'text': 'Vital Signs'}],
    'code': {'coding': [
        {'system': 'http://loinc.org', 'code': '2708-6', 'display': 'Oxygen saturation in Arterial blood'},
        {'system': 'http://loinc.org', 'code': '59408-5',
         'display': 'Oxygen saturation in Arterial blood by Pulse oximetry'},
        {'system': 'urn:iso:std:iso:11073:10101', 'code': '150456', 'display': 'MDC_PULS_OXIM_SAT_O2'}]},
    'subject': {'reference': 'Patient/example'},
    'effectiveDateTime': '2014-12-05T09:30:10+01:00',
    'performer': [{'reference': 'Practitioner/example'}],
    'valueQuantity': {'value': 95, 'unit': '%', 'system': 'http://unitsofmeasure.org', 'code': '%'},
    'interpretation': [{'coding': [{'system': 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation',
                                    'code': 'N', 'display': 'Normal (applies to non-numeric results)'}]}],
    'device': {'reference': 'DeviceMetric/example'},
    'referenceRange': [{'low': {'value': 90, 'unit': '%', 'system': 'http://unitsofmeasure.org', 'code': '%'},
                        'high': {'value': 99, 'unit': '%', 'system': 'http://unitsofmeasure.org', 'code': '%'}}],
}
SPEC_EXAMPLES = {e['id']: e for e in (HEART_RATE_EXAMPLE, RESPIRATORY_RATE_EXAMPLE, BODY_TEMPERATURE_EXAMPLE,
                                      BLOOD_PRESSURE_EXAMPLE, OXYGEN_SATURATION_EXAMPLE)}
