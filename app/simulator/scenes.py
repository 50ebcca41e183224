"""Two scripted demo patients, for what random vital signs rarely show on cue.

- AMU-07: NEWS2 5 (a high alert) that the demo physician acknowledged, then NEWS2 7: the alert re-alarms (active
  again, critical, its escalation restarted; the trail says whose acknowledgement the worse condition superseded).
- AMU-06: a full set of observations at NEWS2 1 five hours ago and nothing since: four-hourly observations are an
  hour overdue, so the watchdog raises an "observations overdue" alert within seconds of the start.

`python main.py --demo` plays them after seeding, before the server accepts a request (not with --no-simulator). The
simulator leaves both patients alone (SCRIPTED_MRNS), so what they show stays true. Each scene plays once per
database: on later starts the patients already have their history.
"""

import logging
from datetime import datetime, timedelta

from app.bootstrap import Vigil
from app.domain import AlertKind, VitalKind
from app.domain.vitals import VITAL_SPECS
from app.errors import NotFound
from app.schemas import Actor, AlertFilter, VitalReadingIn

log = logging.getLogger('vigil.simulator')

HOSPITAL = 'general'
REALARM_BED, OVERDUE_BED = 'AMU-07', 'AMU-06'
# NOTE: the MRNs data/seed.py gives those beds (ward 1, beds 6 and 7).
SCRIPTED_MRNS = frozenset({'G100106', 'G100107'})
CALM = {VitalKind.RESP_RATE: 16, VitalKind.SPO2: 97, VitalKind.ON_OXYGEN: 0, VitalKind.SYSTOLIC_BP: 124,
        VitalKind.DIASTOLIC_BP: 78, VitalKind.HEART_RATE: 94, VitalKind.CONSCIOUSNESS: 0,
        VitalKind.TEMPERATURE: 37.2}  # NEWS2 1 (heart rate 94)
UNWELL = {**CALM, VitalKind.RESP_RATE: 22, VitalKind.HEART_RATE: 112, VitalKind.TEMPERATURE: 38.4}  # NEWS2 5
WORSE = {**UNWELL, VitalKind.ON_OXYGEN: 1}  # oxygen started: NEWS2 7


def full_set(mrn: str, values: dict[VitalKind, float], at: datetime) -> list[VitalReadingIn]:
    return [VitalReadingIn(patient_mrn=mrn, kind=kind, value=value, unit=VITAL_SPECS[kind].unit, measured_at=at)
            for kind, value in values.items()]


async def play_scenes(vigil: Vigil) -> None:
    """Play the scripted scenes of the demo hospital, if it is seeded and they have not been played before."""
    try:
        hospital = await vigil.hospitals.get(HOSPITAL)
    except NotFound:
        return
    monitor = Actor.system('demo bedside monitor', hospital_id=hospital.id)
    beds = {p.bed: p for p in await vigil.patients.list_patients(monitor)}
    now = vigil.clock()
    overdue = beds.get(OVERDUE_BED)
    if overdue is not None and overdue.observations_due_at is None:
        await vigil.patients.record_vitals(monitor, full_set(overdue.mrn, CALM, now - timedelta(hours=5)))
        log.info('demo: %s %s had a full set five hours ago and none since', overdue.bed, overdue.name)
    patient = beds.get(REALARM_BED)
    if patient is None or patient.latest:
        return
    await vigil.patients.record_vitals(monitor, full_set(patient.mrn, UNWELL, now - timedelta(minutes=4)))
    [alert] = [a for a in await vigil.alerts.list_alerts(monitor, AlertFilter(patient_id=patient.id))
               if a.kind is AlertKind.NEWS2]
    await vigil.alerts.acknowledge(Actor.system('doctor', hospital_id=hospital.id), alert.id,
                                   note='reviewed at the bedside, fluids started')
    await vigil.patients.record_vitals(monitor, full_set(patient.mrn, WORSE, now))
    log.info('demo: %s %s got worse after the physician acknowledged NEWS2 5: the alert re-alarmed', patient.bed,
             patient.name)
