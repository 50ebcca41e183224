"""Tenant isolation and role scoping at the service level: nothing of hospital B is reachable from hospital A,
and within a hospital everyone sees and acts on exactly the alerts their role and wards allow."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.bootstrap import Vigil
from app.domain import AlertStatus, Priority, Role, TokenKind, VitalKind
from app.domain.scope import AccessScope
from app.errors import AlertNotFound, DomainError, InvalidInput, NotAllowed, PatientNotFound, WardNotFound
from app.events import Event
from app.schemas import Actor, AlertFilter, AlertView, NewAlert, VitalReadingIn
from data.models import Alert, AlertEvent, ApiToken, EventLogEntry, Hospital, Patient, User, VitalReading

from .conftest import World

EVERY_STATUS = AlertFilter(statuses=tuple(AlertStatus))
PERSON = 'Dr Jane Roe'  # integrations must name who acted; users ignore it


@dataclass
class Scene:
    """The two-hospital world with an open alert in B and real API tokens of A."""

    vigil: Vigil
    world: World
    b_alert: AlertView
    tokens: dict[str, Actor]

    def actor(self, who: str) -> Actor:
        """Return a user of hospital A by role name, or one of A's tokens by kind."""
        return self.tokens[who] if who in self.tokens else self.world.a.actor(who)


def reading(vigil: Vigil, mrn: str, spo2: float) -> VitalReadingIn:
    return VitalReadingIn(patient_mrn=mrn, kind=VitalKind.SPO2, value=spo2, unit='%',
                          measured_at=vigil.clock() - timedelta(minutes=1))


@pytest.fixture
async def scene(vigil: Vigil, world: World) -> Scene:
    b_nurse = world.b.actor('nurse')
    b_alert = await vigil.alerts.raise_alert(b_nurse, NewAlert(
        priority=Priority.CRITICAL, message='B: cardiac arrest', patient_id=world.b.patient_ids['East-1']))
    await vigil.patients.record_vitals(b_nurse, [reading(vigil, 'beta-East-1', 90)])
    tokens = {}
    for kind in TokenKind:
        created = await vigil.tokens.create(hospital_slug='alpha', kind=kind, name=f'alpha-{kind}')
        tokens[str(kind)] = await vigil.tokens.verify(created.secret)
    await vigil.bus.drain()
    return Scene(vigil, world, b_alert, tokens)


async def state(vigil: Vigil, received: list[Event]) -> dict[str, Any]:
    """Everything a refused call could have changed: rows, alert versions, sequence numbers, published events."""
    await vigil.bus.drain()
    async with vigil.db.read() as session:
        counts = {model.__tablename__: await session.scalar(select(func.count()).select_from(model))
                  for model in (Alert, AlertEvent, VitalReading, User, ApiToken, EventLogEntry, Patient)}
        alerts = [tuple(row) for row in await session.execute(
            select(Alert.id, Alert.status, Alert.version, Alert.escalation_level, Alert.occurrences,
                   Alert.acknowledged_by, Alert.resolved_by).order_by(Alert.id))]
        event_seq = [tuple(row) for row in await session.execute(select(Hospital.id, Hospital.event_seq))]
    return {'counts': counts, 'alerts': alerts, 'event_seq': event_seq, 'published': vigil.bus.published,
            'received': len(received)}


Call = Callable[[Scene, Actor], Awaitable[object]]


# --- hospital A acting on hospital B ----------------------------------------------------------------------------------

ALERT_ACTIONS: dict[str, Callable[[Vigil, Actor, int], Awaitable[object]]] = {
    'get': lambda vigil, actor, alert_id: vigil.alerts.get(actor, alert_id),
    'audit_trail': lambda vigil, actor, alert_id: vigil.alerts.audit_trail(actor, alert_id),
    'acknowledge': lambda vigil, actor, alert_id: vigil.alerts.acknowledge(actor, alert_id, on_behalf_of=PERSON),
    'resolve': lambda vigil, actor, alert_id: vigil.alerts.resolve(actor, alert_id, on_behalf_of=PERSON),
    'escalate': lambda vigil, actor, alert_id: vigil.alerts.escalate(actor, alert_id, on_behalf_of=PERSON),
}


@pytest.mark.parametrize('action', ALERT_ACTIONS)
async def test_other_hospitals_alert_is_not_found_and_unchanged(scene: Scene, received: list[Event],
                                                                action: str) -> None:
    """To A's admin, nurse and integration token, B's alert looks like one that does not exist; it stays as it was."""
    vigil, b_admin = scene.vigil, scene.world.b.actor('admin')
    before = await state(vigil, received)

    for who in ('admin', 'nurse', 'integration'):
        with pytest.raises(AlertNotFound) as refused:
            await ALERT_ACTIONS[action](vigil, scene.actor(who), scene.b_alert.id)
        with pytest.raises(AlertNotFound) as missing:
            await ALERT_ACTIONS[action](vigil, scene.actor(who), 999_999)
        assert str(refused.value) == str(missing.value).replace('999999', str(scene.b_alert.id)), who

    assert await state(vigil, received) == before
    assert await vigil.alerts.get(b_admin, scene.b_alert.id) == scene.b_alert
    assert len(await vigil.alerts.audit_trail(b_admin, scene.b_alert.id)) == 1


def b_patient(scene: Scene) -> int:
    return scene.world.b.patient_ids['East-1']


OTHER_HOSPITAL_CALLS: dict[str, tuple[str, Call, type[DomainError]]] = {
    'raise_alert for B patient': ('nurse', lambda s, actor: s.vigil.alerts.raise_alert(actor, NewAlert(
        priority=Priority.HIGH, message='x', patient_id=b_patient(s))), PatientNotFound),
    'raise_alert on B ward': ('admin', lambda s, actor: s.vigil.alerts.raise_alert(actor, NewAlert(
        priority=Priority.HIGH, message='x', ward_id=s.world.b.ward_ids['East'])), WardNotFound),
    'raise_alert by device for B patient': ('device', lambda s, actor: s.vigil.alerts.raise_alert(actor, NewAlert(
        priority=Priority.HIGH, message='x', patient_id=b_patient(s))), PatientNotFound),
    'raise_alert for A patient on B ward': ('nurse', lambda s, actor: s.vigil.alerts.raise_alert(actor, NewAlert(
        priority=Priority.HIGH, message='x', patient_id=s.world.a.patient_ids['North-1'],
        ward_id=s.world.b.ward_ids['East'])), InvalidInput),
    'patients.get B patient': ('admin', lambda s, actor: s.vigil.patients.get(actor, b_patient(s)), PatientNotFound),
    'patients.get B patient by token': (
        'integration', lambda s, actor: s.vigil.patients.get(actor, b_patient(s)), PatientNotFound),
    'record_vitals with B MRN': ('nurse', lambda s, actor: s.vigil.patients.record_vitals(
        actor, [reading(s.vigil, 'beta-East-1', 95)]), PatientNotFound),
    'record_vitals batch with one B MRN': ('device', lambda s, actor: s.vigil.patients.record_vitals(
        actor, [reading(s.vigil, 'alpha-North-1', 95), reading(s.vigil, 'beta-East-2', 95)]), PatientNotFound),
    'users.create in B': ('admin', lambda s, actor: s.vigil.users.create(
        actor, hospital_slug='beta', username='intruder', password='long enough', role=Role.ADMIN), NotAllowed),
    'users.create in a hospital that does not exist': ('admin', lambda s, actor: s.vigil.users.create(
        actor, hospital_slug='nowhere', username='intruder', password='long enough', role=Role.ADMIN), NotAllowed),
    'users.create on B ward': ('admin', lambda s, actor: s.vigil.users.create(
        actor, hospital_slug='alpha', username='floater', password='long enough', role=Role.NURSE,
        ward_names=['East']), WardNotFound),
}


@pytest.mark.parametrize('case', OTHER_HOSPITAL_CALLS)
async def test_other_hospitals_objects_are_refused_and_nothing_changes(
        scene: Scene, received: list[Event], case: str) -> None:
    who, call, error = OTHER_HOSPITAL_CALLS[case]
    before = await state(scene.vigil, received)
    with pytest.raises(error):
        await call(scene, scene.actor(who))
    assert await state(scene.vigil, received) == before


@pytest.mark.parametrize('who', ['nurse', 'charge', 'doctor', 'admin', 'kiosk', 'integration'])
async def test_lists_hold_only_the_actors_hospital(scene: Scene, who: str) -> None:
    vigil, world, actor = scene.vigil, scene.world, scene.actor(who)
    await vigil.alerts.raise_alert(world.a.actor('admin'), NewAlert(
        priority=Priority.CRITICAL, message='A: cardiac arrest', patient_id=world.a.patient_ids['North-1']))
    b_ward, a_hospital = world.b.ward_ids['East'], world.a.hospital_id

    alerts = await vigil.alerts.list_alerts(actor, EVERY_STATUS)
    assert alerts
    assert {a.hospital_id for a in alerts} == {a_hospital}
    assert await vigil.alerts.list_alerts(actor, AlertFilter(ward_id=b_ward, statuses=tuple(AlertStatus))) == []
    assert await vigil.alerts.list_alerts(actor, AlertFilter(patient_id=b_patient(scene))) == []

    patients = await vigil.patients.list_patients(actor)
    assert patients
    assert {p.hospital_id for p in patients} == {a_hospital}
    assert await vigil.patients.list_patients(actor, ward_id=b_ward) == []

    if who == 'admin':
        users = await vigil.users.list_users(actor)
        assert {u.username for u in users} == {f'alpha-{name}' for name in world.a.users}
    else:
        with pytest.raises(NotAllowed, match='Only an administrator'):
            await vigil.users.list_users(actor)


async def test_same_mrn_in_both_hospitals_records_on_the_actors_patient(
        scene: Scene, received: list[Event]) -> None:
    vigil, world = scene.vigil, scene.world
    async with vigil.db.uow() as uow:
        twin = Patient(hospital_id=world.b.hospital_id, ward_id=world.b.ward_ids['East'], mrn='alpha-North-1',
                       name='Twin in B', bed='East-9', spo2_scale=1, admitted_at=vigil.clock())
        uow.session.add(twin)
        await uow.commit()

    stored = await vigil.patients.record_vitals(scene.tokens['device'], [reading(scene.vigil, 'alpha-North-1', 88)])
    await vigil.bus.drain()

    assert [r.patient_id for r in stored] == [world.a.patient_ids['North-1']]
    assert (await vigil.patients.get(world.b.actor('admin'), twin.id)).latest == {}
    assert [(e.type, e.hospital_id) for e in received] == [('VitalsRecorded', world.a.hospital_id)]


# --- role and ward scoping inside one hospital ------------------------------------------------------------------------

@pytest.mark.parametrize('action', ALERT_ACTIONS)
async def test_nurse_cannot_see_or_act_on_another_wards_alert(
        vigil: Vigil, world: World, received: list[Event], action: str) -> None:
    south = await vigil.alerts.raise_alert(world.a.actor('nurse2'), NewAlert(
        priority=Priority.CRITICAL, message='South: fall', patient_id=world.a.patient_ids['South-1']))
    before = await state(vigil, received)

    with pytest.raises(NotAllowed, match='outside your wards and role'):
        await ALERT_ACTIONS[action](vigil, world.a.actor('nurse'), south.id)

    assert await state(vigil, received) == before
    assert await vigil.alerts.get(world.a.actor('nurse2'), south.id) == south


async def test_escalation_widens_who_may_see_and_act(vigil: Vigil, world: World) -> None:
    """A medium South alert is hidden from the North charge nurse and the physician until it escalates."""
    alert = await vigil.alerts.raise_alert(world.a.actor('nurse2'), NewAlert(
        priority=Priority.MEDIUM, message='South: pump occlusion', patient_id=world.a.patient_ids['South-2']))
    for who in ('charge', 'doctor', 'nurse'):
        with pytest.raises(NotAllowed):
            await vigil.alerts.acknowledge(world.a.actor(who), alert.id)

    await vigil.alerts.escalate(world.a.actor('nurse2'), alert.id)

    assert (await vigil.alerts.get(world.a.actor('doctor'), alert.id)).escalation_level == 1
    acknowledged = await vigil.alerts.acknowledge(world.a.actor('charge'), alert.id)
    assert acknowledged.acknowledged_by == 'Charge (alpha-charge)'
    with pytest.raises(NotAllowed):
        await vigil.alerts.get(world.a.actor('nurse'), alert.id)  # a plain nurse stays on her own wards


def in_ward(world: World, *wards: str) -> Callable[[AlertView], bool]:
    ids = {world.a.ward_ids[w] for w in wards}
    return lambda alert: alert.ward_id in ids


# The rules of app/domain/alerts.py written out independently, per actor of hospital A.
VISIBILITY: dict[str, Callable[[World], Callable[[AlertView], bool]]] = {
    'nurse': lambda world: in_ward(world, 'North'),
    'nurse2': lambda world: in_ward(world, 'South'),
    'charge': lambda world: lambda a: in_ward(world, 'North')(a) or a.escalation_level > 0,
    'doctor': lambda world: lambda a: a.priority in (Priority.CRITICAL, Priority.HIGH) or a.escalation_level > 0,
    'admin': lambda world: lambda a: True,
    'kiosk': lambda world: lambda a: True,
    'integration': lambda world: lambda a: True,
}


@pytest.fixture
async def mixed_alerts(scene: Scene) -> list[AlertView]:
    """Alerts of A on both wards, every priority, escalated or not, in every status (plus B's alert)."""
    vigil, world = scene.vigil, scene.world
    admin = world.a.actor('admin')
    ids = []
    for ward in ('North', 'South'):
        for priority in Priority:
            for escalated in (False, True):
                alert = await vigil.alerts.raise_alert(admin, NewAlert(
                    priority=priority, message=f'{ward} {priority} {escalated}', ward_id=world.a.ward_ids[ward]))
                if escalated:
                    await vigil.alerts.escalate(admin, alert.id)
                match len(ids) % 3:
                    case 1:
                        await vigil.alerts.acknowledge(admin, alert.id)
                    case 2:
                        await vigil.alerts.resolve(admin, alert.id)
                ids.append(alert.id)
    everything = [await vigil.alerts.get(Actor.system(), i) for i in [*ids, scene.b_alert.id]]
    assert {a.status for a in everything} == set(AlertStatus)
    return everything


@pytest.mark.parametrize('who', VISIBILITY)
async def test_list_get_and_the_scope_agree_with_the_role_rules(
        scene: Scene, mixed_alerts: list[AlertView], who: str) -> None:
    """list_alerts (the scope's SQL form), get (its Python form on one row) and the scope itself follow the roles."""
    vigil, actor = scene.vigil, scene.actor(who)
    rule = VISIBILITY[who](scene.world)
    of_a = [a for a in mixed_alerts if a.hospital_id == scene.world.a.hospital_id]

    expected = {a.id for a in of_a if rule(a)}
    assert expected  # the mixed set exercises every role
    by_scope = {a.id for a in mixed_alerts if AccessScope.of(actor).sees(a)}
    listed = {a.id for a in await vigil.alerts.list_alerts(actor, EVERY_STATUS)}
    assert listed == by_scope == expected

    for alert in of_a:
        if alert.id in expected:
            assert await vigil.alerts.get(actor, alert.id) == alert
        else:
            with pytest.raises(NotAllowed):
                await vigil.alerts.get(actor, alert.id)
    with pytest.raises(AlertNotFound):
        await vigil.alerts.get(actor, scene.b_alert.id)


async def test_open_alert_filter_respects_scope(scene: Scene, mixed_alerts: list[AlertView]) -> None:
    """The default filter (open alerts) combines with the scope instead of replacing it."""
    nurse = scene.actor('nurse')
    open_north = {a.id for a in mixed_alerts if a.is_open and VISIBILITY['nurse'](scene.world)(a)}
    assert {a.id for a in await scene.vigil.alerts.list_alerts(nurse)} == open_north
