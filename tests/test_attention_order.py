"""The one "needs attention" order and the one "waiting" rule: the Python key every screen sorts by, its SQL mirror in
the alert list and the waiting count (SQLite and PostgreSQL), the API's default sort, and the patient cards' order."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from app.bootstrap import Vigil
from app.domain import AlertKind, AlertStatus, Priority, Role
from app.domain.alerts import attention_key, attention_key_of, is_waiting
from app.schemas import (
    Actor,
    AlertFilter,
    AlertView,
    HospitalView,
    NewAlert,
    News2View,
    PatientView,
    UserView,
    WardView,
)
from components.patient_order import ALL_WARDS, MY_WARDS, acuity_key, ward_options
from components.session import StaffSession

from .api_support import Api, open_api
from .conftest import FakeClock, World

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
EVERY_STATUS = AlertFilter(statuses=tuple(AlertStatus), limit=5000)
ACTIVE, ACKNOWLEDGED, RESOLVED = AlertStatus.ACTIVE, AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED
CRITICAL, HIGH, MEDIUM, LOW = Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM, Priority.LOW


def key(status: AlertStatus = ACTIVE, priority: Priority = MEDIUM, level: int = 0, minutes: float = 0,
        alert_id: int = 1) -> tuple[int, int, int, float, int]:
    return attention_key(status, priority, level, T0 + timedelta(minutes=minutes), alert_id)


# --- the rules, without a database ------------------------------------------------------------------------------------

def test_unacknowledged_comes_before_acknowledged_whatever_the_priority_escalation_or_wait() -> None:
    assert key(ACTIVE, LOW, 0, minutes=30) < key(ACKNOWLEDGED, CRITICAL, 2, minutes=0)
    assert key(ACKNOWLEDGED, LOW) == key(RESOLVED, LOW)  # a resolved row that lingers counts as answered


def test_then_priority() -> None:
    assert key(priority=CRITICAL, minutes=10) < key(priority=HIGH, level=2) \
        < key(priority=MEDIUM, level=2, minutes=-5) < key(priority=LOW, level=2, minutes=-10)
    assert key(ACKNOWLEDGED, CRITICAL, minutes=10) < key(ACKNOWLEDGED, HIGH, level=2)


def test_then_escalation_level_highest_first() -> None:
    assert key(priority=HIGH, level=2, minutes=5) < key(priority=HIGH, level=1, minutes=0) < key(priority=HIGH)


def test_then_longest_waiting_first_then_the_id() -> None:
    assert key(minutes=-10, alert_id=9) < key(minutes=-1, alert_id=1)
    assert key(minutes=0, alert_id=3) < key(minutes=0, alert_id=4)  # a tie is broken by the id, so the order is total


def test_the_key_of_a_view_reads_the_time_it_last_became_an_alarm() -> None:
    view = AlertView(
        id=5, hospital_id=1, ward_id=1, ward_name='North', patient_id=None, patient_name=None, patient_mrn=None,
        bed=None, kind=AlertKind.MANUAL, priority=CRITICAL, status=ACTIVE, message='m', dedup_key=None, occurrences=1,
        escalation_level=1, next_escalation_at=None, created_at=T0, created_by='x', last_triggered_at=T0,
        acknowledged_at=None, acknowledged_by=None, resolved_at=None, resolved_by=None, version=1)
    assert view.waiting_since == T0  # a view from before waiting_since existed waited since it was raised
    realarmed = view.model_copy(update={'waiting_since': T0 + timedelta(minutes=7)})
    assert attention_key_of(realarmed) == attention_key(ACTIVE, CRITICAL, 1, T0 + timedelta(minutes=7), 5)


@pytest.mark.parametrize(('status', 'priority', 'level', 'waiting'), [
    (ACTIVE, CRITICAL, 0, True), (ACTIVE, HIGH, 0, True), (ACTIVE, MEDIUM, 0, False), (ACTIVE, LOW, 0, False),
    (ACTIVE, MEDIUM, 1, True), (ACTIVE, LOW, 2, True),
    (ACKNOWLEDGED, CRITICAL, 0, False), (ACKNOWLEDGED, HIGH, 2, False), (RESOLVED, CRITICAL, 1, False),
])
def test_an_alert_waits_when_unacknowledged_and_critical_high_or_escalated(
        status: AlertStatus, priority: Priority, level: int, waiting: bool) -> None:
    assert is_waiting(status, priority, level) is waiting


def patient(bed: str, score: int | None = None, due_minutes: float | None = None) -> PatientView:
    return PatientView(id=int(bed[-1]), hospital_id=1, ward_id=1, ward_name='North', mrn=bed, name=bed, bed=bed,
                       spo2_scale=1, news2=None if score is None else News2View(total=score, risk='low'),
                       observations_due_at=None if due_minutes is None else T0 + timedelta(minutes=due_minutes))


def unanswered(status: AlertStatus = ACTIVE, priority: Priority = LOW, level: int = 0) -> list[AlertView]:
    return [AlertView(
        id=1, hospital_id=1, ward_id=1, ward_name='North', patient_id=1, patient_name='p', patient_mrn='m', bed='b',
        kind=AlertKind.MANUAL, priority=priority, status=status, message='m', dedup_key=None, occurrences=1,
        escalation_level=level, next_escalation_at=None, created_at=T0, created_by='x', last_triggered_at=T0,
        acknowledged_at=None, acknowledged_by=None, resolved_at=None, resolved_by=None, version=1)]


def test_patient_cards_put_an_unanswered_alert_first_then_news2_then_overdue_observations() -> None:
    cards = [  # in bed order, as the service lists them; sorting is stable, so bed order breaks ties
        ('bed-0', patient('bed-0', 0), unanswered(priority=MEDIUM, level=1)),
        ('bed-1', patient('bed-1', 2), []),
        ('bed-2', patient('bed-2', 9), unanswered(ACKNOWLEDGED)),
        ('bed-3', patient('bed-3', 1), unanswered()),
        ('bed-4', patient('bed-4', None), []),
        ('bed-5', patient('bed-5', 2, due_minutes=-30), []),
        ('bed-6', patient('bed-6', 2, due_minutes=-60), []),
        ('bed-7', patient('bed-7', 2, due_minutes=+30), []),
        ('bed-8', patient('bed-8', 9), []),
        ('bed-9', patient('bed-9', 0), unanswered(priority=MEDIUM) + unanswered(ACKNOWLEDGED, CRITICAL)),
        ('bed-10', patient('bed-10', 1), unanswered(priority=MEDIUM, level=1)),
    ]
    ordered = sorted(cards, key=lambda c: acuity_key(c[1], c[2], T0))
    # Unanswered alerts first, the most urgent one first (priority, escalation), then NEWS2 ...
    assert [c[0] for c in ordered] == ['bed-10', 'bed-0', 'bed-9', 'bed-3',
                                       'bed-2', 'bed-8', 'bed-6', 'bed-5', 'bed-1', 'bed-7', 'bed-4']


WARDS = tuple(WardView(id=i, hospital_id=1, name=name) for i, name in ((1, 'AMU'), (2, 'Cardiology'), (3, 'ICU')))


def staff(role: Role, *ward_ids: int) -> StaffSession:
    user = UserView(id=1, hospital_id=1, username='u', display_name='U', role=role, ward_ids=ward_ids)
    return StaffSession(user=user, actor=Actor.for_user(user), hospital=HospitalView(id=1, slug='h', name='H'),
                        wards=WARDS, channel=None)  # type: ignore[arg-type]  # the channel plays no part here


def test_the_ward_choice_offers_only_what_narrows_the_cards() -> None:
    assert ward_options(staff(Role.NURSE, 1)) == {}  # one ward: nothing to choose
    assert ward_options(staff(Role.CHARGE_NURSE, 1, 2)) == {ALL_WARDS: 'All wards', 1: 'AMU', 2: 'Cardiology'}
    assert ward_options(staff(Role.PHYSICIAN)) == {ALL_WARDS: 'All wards', 1: 'AMU', 2: 'Cardiology', 3: 'ICU'}
    assert ward_options(staff(Role.PHYSICIAN, 2, 3)) == {ALL_WARDS: 'All wards', MY_WARDS: 'My wards', 1: 'AMU',
                                                         2: 'Cardiology', 3: 'ICU'}


# --- the SQL mirror agrees with the Python rules (SQLite and PostgreSQL) -------------------------------------------

async def mixed_set(vigil: Vigil, world: World, clock: FakeClock) -> dict[str, AlertView]:
    """Every status, priority and escalation level, ties in time, and a re-alarm; across wards and patients."""
    system = Actor.system('test', world.a.hospital_id)
    beds = list(world.a.patient_ids)
    made: dict[str, AlertView] = {}
    # A medium alert acknowledged before all the others, re-alarmed at critical after them: it waits since the
    # re-alarm, so it comes after every critical raised in between (by created_at it would come before them).
    first = await vigil.alerts.raise_alert(system, NewAlert(priority=MEDIUM, message='re-alarmed', dedup_key='pump',
                                                            patient_id=world.a.patient_ids[beds[0]]))
    await vigil.alerts.acknowledge(system, first.id)
    n = 0
    for priority in Priority:
        for status in AlertStatus:
            for level in (0, 1, 2):
                bed = beds[n % len(beds)]
                n += 1
                name = f'{priority.value}-{status.value}-{level}'
                view = await vigil.alerts.raise_alert(system, NewAlert(
                    priority=priority, message=name, patient_id=world.a.patient_ids[bed]))
                for _ in range(level):
                    view = await vigil.alerts.escalate(system, view.id)
                if status is ACKNOWLEDGED:
                    view = await vigil.alerts.acknowledge(system, view.id)
                elif status is RESOLVED:
                    view = await vigil.alerts.resolve(system, view.id)
                made[name] = view
                if n % 3:
                    clock.advance(seconds=20)  # every third alert ties in time with the one before
    clock.advance(minutes=5)
    made['re-alarmed'] = await vigil.alerts.raise_alert(system, NewAlert(
        priority=CRITICAL, message='re-alarmed', dedup_key='pump', patient_id=first.patient_id))
    assert made['re-alarmed'].id == first.id and made['re-alarmed'].status is ACTIVE
    return made


async def test_the_list_is_sorted_in_sql_exactly_as_the_python_key_sorts(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    made = await mixed_set(vigil, world, clock)
    realarm = made['re-alarmed']
    assert realarm.waiting_since == clock() > realarm.created_at
    assert all(a.waiting_since == a.created_at for name, a in made.items() if name != 're-alarmed')

    for who in ('admin', 'nurse', 'charge', 'doctor'):
        listed = await vigil.alerts.list_alerts(world.a.actor(who), EVERY_STATUS)
        assert listed == sorted(listed, key=attention_key_of), who
    listed = await vigil.alerts.list_alerts(world.a.actor('admin'), EVERY_STATUS)
    assert len(listed) == len(Priority) * len(AlertStatus) * 3 + 1  # and the re-alarm
    # The re-alarm is the newest unacknowledged critical at level 0: after the older ones, before any high.
    critical_waiting = [a.message for a in listed if a.status is ACTIVE and a.priority is CRITICAL]
    assert critical_waiting == ['critical-active-2', 'critical-active-1', 'critical-active-0', 're-alarmed']
    assert listed[0].message == 'critical-active-2'
    assert [a.status for a in listed].index(ACKNOWLEDGED) == sum(a.status is ACTIVE for a in listed)


async def test_newest_first_on_request(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await mixed_set(vigil, world, clock)
    listed = await vigil.alerts.list_alerts(world.a.actor('admin'), AlertFilter(statuses=tuple(AlertStatus),
                                                                                sort='newest'))
    assert listed == sorted(listed, key=lambda a: (a.created_at, a.id), reverse=True)


async def test_the_waiting_count_in_sql_is_the_python_rule(vigil: Vigil, world: World, clock: FakeClock) -> None:
    await mixed_set(vigil, world, clock)
    for side, who in (('a', 'admin'), ('a', 'nurse'), ('a', 'charge'), ('a', 'doctor'), ('b', 'admin')):
        actor = getattr(world, side).actor(who)
        listed = await vigil.alerts.list_alerts(actor, EVERY_STATUS)
        expected = sum(is_waiting(a.status, a.priority, a.escalation_level) for a in listed)
        assert (await vigil.metrics.overview(actor)).waiting == expected, who
    # critical and high unacknowledged at every level (2 x 3), medium and low escalated (2 x 2), the re-alarm
    assert (await vigil.metrics.overview(world.a.actor('admin'))).waiting == 6 + 4 + 1


# --- GET /api/v1/alerts ---------------------------------------------------------------------------------------------

@pytest.fixture
async def api(vigil: Vigil, world: World) -> AsyncIterator[Api]:
    async with open_api(vigil) as api:
        yield api


async def test_the_api_lists_in_the_needs_attention_order_by_default(
        api: Api, vigil: Vigil, world: World, clock: FakeClock) -> None:
    system = Actor.system('test', world.a.hospital_id)

    async def raise_(priority: Priority, bed: str) -> AlertView:
        clock.advance(seconds=30)
        return await vigil.alerts.raise_alert(system, NewAlert(priority=priority, message=f'{priority} {bed}',
                                                               patient_id=world.a.patient_ids[bed]))

    answered_critical = await raise_(CRITICAL, 'North-1')
    await vigil.alerts.acknowledge(system, answered_critical.id)
    medium = await raise_(MEDIUM, 'North-2')
    escalated_high = await raise_(HIGH, 'South-1')
    await vigil.alerts.escalate(system, escalated_high.id)
    high = await raise_(HIGH, 'South-2')

    async def ids(**params: str) -> list[int]:
        response = await api.get('/api/v1/alerts', params=params)
        assert response.status_code == 200, response.text
        return [a['id'] for a in response.json()]

    attention = [escalated_high.id, high.id, medium.id, answered_critical.id]
    assert await ids() == attention
    assert await ids(sort='attention') == attention
    assert await ids(sort='newest') == [high.id, escalated_high.id, medium.id, answered_critical.id]
    [top] = (await api.get('/api/v1/alerts', params={'limit': '1'})).json()
    assert datetime.fromisoformat(top['waiting_since']) == escalated_high.created_at

    refused = await api.get('/api/v1/alerts', params={'sort': 'priority'})
    assert refused.status_code == 422
    [error] = refused.json()['detail']
    assert error['loc'] == ['query', 'sort'] and "'attention' or 'newest'" in error['msg']


async def test_the_openapi_document_describes_the_order(api: Api) -> None:
    document = (await api.get('/openapi.json', who=None)).json()
    route = document['paths']['/api/v1/alerts']['get']
    assert 'needs-attention order' in route['description']
    assert 'unacknowledged (active) before acknowledged' in route['description']
    [sort] = [p for p in route['parameters'] if p['name'] == 'sort']
    assert sort['schema']['enum'] == ['attention', 'newest'] and sort['schema']['default'] == 'attention'
