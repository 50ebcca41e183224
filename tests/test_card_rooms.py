"""The Patient Cards' rooms (components/card_rooms.py): which cards a room of one scope holds, renders and re-keys,
without a browser."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nicegui import core

from app.domain import AlertKind, AlertStatus, Priority, VitalKind
from app.domain.scope import AccessScope, AlertReach
from app.schemas import AlertView, News2View, PatientView, VitalValue
from components.card_rooms import VIEW, CardRooms, CardsRoom
from components.live_rooms import RoomKey
from components.patient_cards import card_element

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
HOSPITAL = AccessScope(hospital_id=1, wards=None, alerts=AlertReach.EVERY, staff=True)
NORTH_NURSE = AccessScope(hospital_id=1, wards=frozenset({3}), alerts=AlertReach.WARDS, staff=True)
NORTH, SOUTH = 3, 4


def patient(patient_id: int, ward_id: int = NORTH, *, heart_rate: float | None = None, at: datetime = NOW,
            score: int | None = None, due: datetime | None = None, name: str | None = None) -> PatientView:
    latest = {VitalKind.HEART_RATE: VitalValue(value=heart_rate, unit='/min', measured_at=at)} if heart_rate else {}
    return PatientView(id=patient_id, hospital_id=1, ward_id=ward_id, ward_name={NORTH: 'North'}.get(ward_id, 'South'),
                       mrn=f'mrn-{patient_id}', name=name or f'Patient {patient_id}', bed=f'B-{patient_id:02d}',
                       spo2_scale=1, latest=latest, news2=None if score is None else News2View(total=score, risk='low'),
                       observations_due_at=due)


def alert(alert_id: int, patient_id: int, ward_id: int = NORTH, **changes: Any) -> AlertView:
    fields: dict[str, Any] = dict(
        id=alert_id, hospital_id=1, ward_id=ward_id, ward_name='North', patient_id=patient_id, patient_name='p',
        patient_mrn='m', bed='b', kind=AlertKind.MANUAL, priority=Priority.HIGH, status=AlertStatus.ACTIVE,
        message='Patient fall', dedup_key=None, occurrences=1, escalation_level=0, next_escalation_at=None,
        created_at=NOW, created_by='user:nurse', last_triggered_at=NOW, acknowledged_at=None, acknowledged_by=None,
        resolved_at=None, resolved_by=None, version=1)
    return AlertView(**(fields | changes))


def cards_room(scope: AccessScope, patients: list[PatientView], alerts: list[AlertView] | None = None,
               clock: list[datetime] | None = None) -> CardsRoom:
    now = clock or [NOW]

    async def load() -> tuple[list[PatientView], list[AlertView]]:
        return list(patients), list(alerts or [])

    return CardsRoom('test-cards', RoomKey(VIEW, 1, scope), load, lambda: now[0])


async def test_a_nurses_room_never_holds_another_wards_patient() -> None:
    # The loader is the service's (already scoped); the room checks again what any event brings.
    room = cards_room(NORTH_NURSE, [patient(1), patient(2, SOUTH)], [alert(5, 2, SOUTH, escalation_level=1)])
    await room.reload()
    assert set(room.rows) == {1} and room.alerts == {}

    changed, gone = room.apply_vitals([patient(2, SOUTH, heart_rate=140)])
    assert (changed, gone) == ([], []) and not room.missing  # another ward's patient: nothing to load
    assert room.apply_alert(alert(6, 2, SOUTH)) is None and 6 not in room.alerts

    # Moved to a ward the nurse does not see: the card goes from every page of the room.
    changed, gone = room.apply_vitals([patient(1, SOUTH, heart_rate=90, at=NOW + timedelta(seconds=5))])
    assert (changed, gone) == ([], [1]) and room.rows == {} and 'Patient 1' not in ''.join(room.texts())


async def test_a_changed_card_is_rendered_once_with_its_keys_and_ward_and_an_older_view_changes_nothing() -> None:
    room = cards_room(HOSPITAL, [patient(1), patient(2, SOUTH)])
    await room.reload()
    assert [(r['id'], r['bed'], r['f']) for r in room.ordered('bed')] == [(1, [0], [NORTH]), (2, [1], [SOUTH])]

    changed, _ = room.apply_vitals([patient(2, SOUTH, heart_rate=72, at=NOW), patient(1)])
    assert [r['id'] for r in changed] == [2]  # the unchanged card is not sent
    assert changed[0]['html'] == card_element(room.patients[2], [], NOW)
    assert '72' in changed[0]['html'] and changed[0]['html'].startswith('<article id="card-2" class="vigil-card"')
    older, _ = room.apply_vitals([patient(2, SOUTH, heart_rate=60, at=NOW - timedelta(minutes=1))])
    assert older == [] and '72' in room.rows[2]['html']


async def test_an_unanswered_alert_badges_its_card_and_puts_it_first_until_resolved() -> None:
    room = cards_room(HOSPITAL, [patient(1, score=3), patient(2)])
    await room.reload()
    assert [r['id'] for r in room.ordered()] == [1, 2]  # NEWS2 first

    row = room.apply_alert(alert(7, 2, priority=Priority.CRITICAL))
    assert row is not None and 'vigil-card vigil-card-critical' in row['html'] and 'Critical · 1 open' in row['html']
    assert [r['id'] for r in room.ordered()] == [2, 1] and [r['id'] for r in room.ordered('bed')] == [1, 2]
    assert room.apply_alert(alert(7, 2, priority=Priority.CRITICAL)) is None  # the same version again
    assert room.apply_alert(alert(8, None)) is None  # type: ignore[arg-type]  # a ward alert has no card

    row = room.apply_alert(alert(7, 2, version=2, status=AlertStatus.RESOLVED, resolved_at=NOW))
    assert row is not None and 'open</span>' not in row['html'] and room.alerts == {}
    assert [r['id'] for r in room.ordered()] == [1, 2]


async def test_the_slow_tick_re_keys_a_card_whose_observations_fell_overdue() -> None:
    clock = [NOW]
    room = cards_room(HOSPITAL, [patient(1, score=1), patient(2, score=1, due=NOW + timedelta(minutes=10))],
                      clock=clock)
    await room.reload()
    assert [r['id'] for r in room.ordered()] == [1, 2] and room.rekey() == []

    clock[0] = NOW + timedelta(minutes=11)
    changed = room.rekey()
    assert [r['id'] for r in changed] == [2] and 'Observations overdue since' in changed[0]['html']
    assert [r['id'] for r in room.ordered()] == [2, 1]


async def test_a_reload_keeps_vitals_that_came_while_the_database_was_read() -> None:
    reading, read = asyncio.Event(), asyncio.Event()

    async def slow_load() -> tuple[list[PatientView], list[AlertView]]:
        reading.set()
        await read.wait()
        return [patient(1, heart_rate=70, at=NOW)], []

    room = CardsRoom('test-cards', RoomKey(VIEW, 1, HOSPITAL), slow_load, lambda: NOW)
    loading = asyncio.create_task(room.reload())
    await reading.wait()
    room.apply_vitals([patient(1, heart_rate=130, at=NOW + timedelta(seconds=3))])
    read.set()
    assert await loading
    assert '130' in room.rows[1]['html'] and room.unsent


async def test_a_card_escapes_what_comes_from_outside() -> None:
    room = cards_room(HOSPITAL, [patient(1, name='<img src=x onerror=alert(1)> "Q"')])
    await room.reload()
    html = room.rows[1]['html']
    assert '<img' not in html and '&lt;img src=x onerror=alert(1)&gt;' in html
    assert 'aria-label="B-01 &lt;img src=x onerror=alert(1)&gt; &quot;Q&quot;"' in html


async def test_a_patient_new_to_the_scope_gets_a_card_in_its_bed_place_on_every_page_of_the_room(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Admitted to (or moved into) one of the scope's wards while pages are open: its first vitals make the room
    # reload, and every page of the room gets the snapshot with the new card in its ward-and-bed place.
    ward = [patient(1), patient(3)]
    rooms = CardRooms(lambda: NOW)
    room = cards_room(NORTH_NURSE, ward)
    rooms._rooms[room.key] = room  # as a page's entering would (no NiceGUI client here)
    await room.reload()
    sent: list[dict[str, Any]] = []

    async def emit(event: str, payload: dict[str, Any], room: str | None = None, **_: Any) -> None:
        sent.append(payload)

    monkeypatch.setattr(core.sio, 'emit', emit)
    monkeypatch.setattr(core, 'loop', asyncio.get_running_loop())  # NiceGUI's background tasks run on it
    ward.insert(1, patient(2, heart_rate=80))  # now in the database, between beds 1 and 3
    rooms.vitals(1, [patient(2, heart_rate=80), patient(7, SOUTH, heart_rate=60)])
    for _ in range(20):
        await asyncio.sleep(0)
        if sent:
            break
    assert [r['id'] for r in room.ordered('bed')] == [1, 2, 3] and not room.missing
    assert sent and sent[-1]['snapshot'] and [r['id'] for r in sent[-1]['rows']] == [1, 2, 3]
    assert '80' in room.rows[2]['html']

    sent.clear()
    rooms.vitals(1, [patient(7, SOUTH, heart_rate=61)])  # another ward's patient: no reload, nothing sent
    await asyncio.sleep(0.01)
    assert sent == [] and set(room.rows) == {1, 2, 3}
