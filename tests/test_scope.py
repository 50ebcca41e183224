"""The one access rule (domain.scope.AccessScope) and its SQL form (services.scope_sql) select the same rows.

Random actors (every role with random wards, every kind of token, the system with or without a hospital) against
random patients and alerts in random hospitals and wards, stored in a real database: the rows each clause selects are
exactly the rows the Python predicate accepts, on SQLite and PostgreSQL.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from app.bootstrap import Vigil
from app.domain import AlertKind, AlertStatus, Priority, Role, TokenKind
from app.domain.scope import AccessScope, AlertReach
from app.errors import NotAllowed
from app.schemas import Actor, WardView
from app.services.scope_sql import alerts_in, patients_in, trails_in
from data.models import Alert, Hospital, Patient, Ward

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
HOSPITALS = 3
WARDS = 3  # per hospital; a row names a ward by (hospital index, ward index)


@dataclass(frozen=True)
class AlertSpec:
    hospital: int
    ward: int
    priority: Priority
    escalation_level: int


@dataclass(frozen=True)
class ActorSpec:
    kind: str
    hospital: int | None
    role: Role | None = None
    wards: tuple[tuple[int, int], ...] = ()  # (hospital index, ward index): usually their own hospital's
    token_kind: TokenKind | None = None


places = st.tuples(st.integers(0, HOSPITALS - 1), st.integers(0, WARDS - 1))
alert_specs = st.builds(lambda place, priority, level: AlertSpec(place[0], place[1], priority, level),
                        places, st.sampled_from(Priority), st.integers(0, 2))
users = st.builds(lambda hospital, role, own, other: ActorSpec(
    'user', hospital, role=role, wards=tuple((hospital, w) for w in own) + tuple(other)),
    st.integers(0, HOSPITALS - 1), st.sampled_from(Role), st.sets(st.integers(0, WARDS - 1)),
    st.lists(places, max_size=1))
tokens = st.builds(lambda hospital, kind: ActorSpec('token', hospital, token_kind=kind),
                   st.integers(0, HOSPITALS - 1), st.sampled_from(TokenKind))
systems = st.builds(lambda hospital: ActorSpec('system', hospital), st.none() | st.integers(0, HOSPITALS - 1))
actor_specs = st.one_of(users, users, tokens, systems)


def actor_of(spec: ActorSpec, hospital_ids: list[int], ward_ids: dict[tuple[int, int], int]) -> Actor:
    hospital_id = hospital_ids[spec.hospital] if spec.hospital is not None else None
    if spec.kind == 'system':
        return Actor.system(hospital_id=hospital_id)
    if spec.kind == 'token':
        return Actor(kind='token', hospital_id=hospital_id, name='token:t', token_id=1, token_kind=spec.token_kind)
    return Actor(kind='user', hospital_id=hospital_id, name='someone', user_id=1, role=spec.role,
                 ward_ids=tuple(ward_ids[w] for w in spec.wards))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(patients=st.lists(places, max_size=12), alerts=st.lists(alert_specs, max_size=16),
       actors=st.lists(actor_specs, min_size=1, max_size=8))
async def test_the_sql_form_selects_exactly_what_the_python_form_accepts(
        vigil: Vigil, patients: list[tuple[int, int]], alerts: list[AlertSpec], actors: list[ActorSpec]) -> None:
    async with vigil.db.uow() as uow:  # never committed: each example leaves the database as it found it
        session = uow.session
        hospitals = [Hospital(slug=f'h{i}', name=f'H{i}', event_seq=0, created_at=NOW) for i in range(HOSPITALS)]
        session.add_all(hospitals)
        await session.flush()
        wards = {(h, w): Ward(hospital_id=hospitals[h].id, name=f'W{w}')
                 for h in range(HOSPITALS) for w in range(WARDS)}
        session.add_all(wards.values())
        await session.flush()
        patient_rows = [Patient(hospital_id=hospitals[h].id, ward_id=wards[h, w].id, mrn=f'm{i}', name='P', bed=str(i),
                                spo2_scale=1, admitted_at=NOW) for i, (h, w) in enumerate(patients)]
        alert_rows = [Alert(hospital_id=hospitals[a.hospital].id, ward_id=wards[a.hospital, a.ward].id,
                            kind=AlertKind.MANUAL, priority=a.priority, status=AlertStatus.ACTIVE, message='m',
                            occurrences=1, escalation_level=a.escalation_level, created_at=NOW, created_by='x',
                            last_triggered_at=NOW) for a in alerts]
        session.add_all([*patient_rows, *alert_rows])
        await session.flush()
        hospital_ids = [h.id for h in hospitals]
        ward_ids = {place: ward.id for place, ward in wards.items()}
        for spec in actors:
            scope = AccessScope.of(actor_of(spec, hospital_ids, ward_ids))
            seen_patients = set(await session.scalars(select(Patient.id).where(patients_in(scope))))
            assert seen_patients == {p.id for p in patient_rows if scope.sees_patient(p.hospital_id, p.ward_id)}, scope
            seen_alerts = set(await session.scalars(select(Alert.id).where(alerts_in(scope))))
            assert seen_alerts == {a.id for a in alert_rows if scope.sees_alert(
                a.hospital_id, a.ward_id, Priority(a.priority), a.escalation_level)}, scope
            trails = set(await session.scalars(select(Alert.id).where(trails_in(scope))))
            assert trails == {a.id for a in alert_rows if scope.reads_trail(
                a.hospital_id, a.ward_id, Priority(a.priority), a.escalation_level)}, scope


# --- the rule itself, as the product describes it --------------------------------------------------------------------

def user(role: Role, *wards: int, hospital_id: int = 1) -> AccessScope:
    return AccessScope.of(Actor(kind='user', hospital_id=hospital_id, name='u', user_id=1, role=role, ward_ids=wards))


@pytest.mark.parametrize(('scope', 'own_ward', 'other_ward'), [
    (user(Role.NURSE, 10), True, False),
    (user(Role.CHARGE_NURSE, 10), True, False),
    (user(Role.PHYSICIAN), True, True),
    (user(Role.ADMIN), True, True),
    (AccessScope.of(Actor(kind='token', hospital_id=1, name='token:k', token_kind=TokenKind.KIOSK)), True, True),
    (AccessScope.of(Actor.system(hospital_id=1)), True, True),
])
def test_patients_of_which_wards_each_actor_sees(scope: AccessScope, own_ward: bool, other_ward: bool) -> None:
    assert scope.sees_patient(1, 10) is own_ward
    assert scope.sees_patient(1, 20) is other_ward
    assert not scope.sees_patient(2, 10)  # another hospital: never


@pytest.mark.parametrize(('scope', 'expected'), [
    # Alerts: (own ward, low), (other ward, low), (other ward, critical), (other ward, low, escalated)
    (user(Role.NURSE, 10), (True, False, False, False)),
    (user(Role.CHARGE_NURSE, 10), (True, False, False, True)),
    (user(Role.PHYSICIAN), (False, False, True, True)),
    (user(Role.ADMIN), (True, True, True, True)),
    (AccessScope.of(Actor(kind='token', hospital_id=1, name='token:d', token_kind=TokenKind.DEVICE)),
     (True, True, True, True)),
])
def test_alerts_each_actor_sees(scope: AccessScope, expected: tuple[bool, ...]) -> None:
    seen = (scope.sees_alert(1, 10, Priority.LOW, 0), scope.sees_alert(1, 20, Priority.LOW, 0),
            scope.sees_alert(1, 20, Priority.CRITICAL, 0), scope.sees_alert(1, 20, Priority.LOW, 1))
    assert seen == expected
    assert not scope.sees_alert(2, 10, Priority.CRITICAL, 2)


def test_the_trail_is_for_staff_and_follows_patients_as_well_as_alerts() -> None:
    token = AccessScope.of(Actor(kind='token', hospital_id=1, name='token:i', token_kind=TokenKind.INTEGRATION))
    assert not token.reads_trail(1, 10, Priority.CRITICAL, 0)
    # A physician opens every patient's record, so reads the trail of a low alert they are not called to.
    assert user(Role.PHYSICIAN).reads_trail(1, 20, Priority.LOW, 0)
    assert not user(Role.NURSE, 10).reads_trail(1, 20, Priority.CRITICAL, 1)
    assert user(Role.CHARGE_NURSE, 10).reads_trail(1, 20, Priority.LOW, 1)


def test_a_system_actor_without_a_hospital_reaches_every_hospital() -> None:
    scope = AccessScope.of(Actor.system())
    assert scope.sees_patient(7, 70) and scope.sees_alert(8, 80, Priority.LOW, 0)
    assert scope.sees_whole_hospital


def test_equal_reach_is_an_equal_scope() -> None:
    # What the metrics overview shares between users: a physician's ward assignments change nothing they see.
    assert user(Role.PHYSICIAN, 10) == user(Role.PHYSICIAN, 20)
    assert user(Role.NURSE, 10, 20) == user(Role.NURSE, 20, 10)
    assert user(Role.NURSE, 10) != user(Role.CHARGE_NURSE, 10)
    assert user(Role.PHYSICIAN) != user(Role.ADMIN)
    assert user(Role.PHYSICIAN).alerts is AlertReach.URGENT


def test_ward_lists_follow_the_scope() -> None:
    wards = (WardView(id=10, hospital_id=1, name='North'), WardView(id=20, hospital_id=1, name='South'))
    assert user(Role.NURSE, 10).patient_wards(wards) == wards[:1]
    assert user(Role.NURSE, 10).alert_wards(wards) == wards[:1]
    # Escalated alerts of any ward reach a charge nurse: every ward is a filter choice for them.
    assert user(Role.CHARGE_NURSE, 10).patient_wards(wards) == wards[:1]
    assert user(Role.CHARGE_NURSE, 10).alert_wards(wards) == wards
    assert user(Role.PHYSICIAN).patient_wards(wards) == wards


def test_a_patient_of_another_ward_is_refused_by_name() -> None:
    with pytest.raises(NotAllowed, match='Patient M-7 is not on one of your wards'):
        user(Role.NURSE, 10).check_patient(1, 20, 'M-7')
    user(Role.NURSE, 10).check_patient(1, 10, 'M-7')
