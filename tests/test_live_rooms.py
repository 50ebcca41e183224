"""Rooms (components/live_rooms.py): what a room of one scope holds, renders and sends, without a browser."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from app.domain import AlertKind, AlertStatus, Priority
from app.domain.scope import AccessScope, AlertReach
from app.schemas import AlertView
from components.alert_list import ALERTS_VIEWS, RESOLVED_LINGER
from components.alert_row import snoozable
from components.kiosk_board import KIOSK_VIEW, ROWS
from components.live_rooms import Room, RoomKey

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
HOSPITAL = AccessScope(hospital_id=1, wards=None, alerts=AlertReach.EVERY, staff=False)  # a wall display's scope
NORTH_NURSE = AccessScope(hospital_id=1, wards=frozenset({3}), alerts=AlertReach.WARDS, staff=True)


def alert(alert_id: int = 7, **changes: Any) -> AlertView:
    fields: dict[str, Any] = dict(
        id=alert_id, hospital_id=1, ward_id=3, ward_name='North', patient_id=11, patient_name='Patient North-1',
        patient_mrn='alpha-North-1', bed='North-1', kind=AlertKind.MANUAL, priority=Priority.HIGH,
        status=AlertStatus.ACTIVE, message='Patient fall', dedup_key=None, occurrences=1, escalation_level=0,
        next_escalation_at=None, created_at=NOW, created_by='user:nurse', last_triggered_at=NOW,
        acknowledged_at=None, acknowledged_by=None, resolved_at=None, resolved_by=None, version=1)
    return AlertView(**(fields | changes))


def room(scope: AccessScope = HOSPITAL, loaded: list[AlertView] | None = None) -> Room:
    async def load() -> list[AlertView]:
        return list(loaded or [])

    return Room('test-room', RoomKey(KIOSK_VIEW.name, 1, scope), KIOSK_VIEW, load, lambda: NOW)


def test_a_room_holds_only_what_its_scope_sees() -> None:
    north = room(NORTH_NURSE)

    assert north.apply(alert(7, ward_id=4, ward_name='South')) is None
    row = north.apply(alert(8))

    assert isinstance(row, dict) and row['id'] == 8 and 'data-alert="8"' in row['html']
    assert [r['id'] for r in north.shown()] == [8]


def test_older_or_equal_versions_change_nothing_and_a_resolution_removes_the_row() -> None:
    board = room()
    board.apply(alert(7, version=2, status=AlertStatus.ACKNOWLEDGED, acknowledged_by='user:charge'))

    assert board.apply(alert(7, version=1)) is None
    assert board.apply(alert(7, version=2)) is None
    assert board.apply(alert(9, version=3, status=AlertStatus.RESOLVED)) is None  # never shown: nothing to remove
    assert board.apply(alert(7, version=3, status=AlertStatus.RESOLVED)) == 7
    assert board.shown() == [] and 'No open alerts' in board.texts()[0]


def test_rows_come_in_attention_order_with_the_key_the_browser_sorts_by_and_the_rest_is_counted() -> None:
    board = room()
    for index in range(ROWS + 2):
        board.apply(alert(100 + index, priority=Priority.MEDIUM, created_at=NOW - timedelta(minutes=index)))
    board.apply(alert(1, priority=Priority.CRITICAL))
    board.summarise()

    shown = board.shown()
    assert len(shown) == ROWS and shown[0]['id'] == 1
    assert [r['key'] for r in shown] == sorted(r['key'] for r in shown)
    assert board.slots['count-medium']['text'] == f'{ROWS + 2} Medium'
    assert board.slots['count-low']['cls'] == 'vigil-kiosk-count vigil-kiosk-count-low'  # off: no low alert
    assert board.slots['more']['text'] == '+3 more open: 3 medium'
    assert '3 more open' in ' '.join(board.texts())


def test_a_row_escapes_what_comes_from_outside() -> None:
    board = room()
    row = board.apply(alert(7, message='<img src=x onerror=alert(1)>', patient_name='A & B'))

    assert isinstance(row, dict)
    assert '<img' not in row['html'] and '&lt;img src=x onerror=alert(1)&gt;' in row['html']
    assert 'A &amp; B' in row['html']


async def test_a_reload_keeps_what_events_brought_while_the_database_was_read() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    # The query saw alert 7 open (version 1) and not yet alert 8.
    stale = [alert(7), alert(5, message='Open all along')]

    async def slow_load() -> list[AlertView]:
        started.set()
        await release.wait()
        return stale

    board = Room('test-room', RoomKey(KIOSK_VIEW.name, 1, HOSPITAL), KIOSK_VIEW, slow_load, lambda: NOW)
    board.apply(alert(5, message='Open all along'))
    reload = asyncio.create_task(board.reload())
    await started.wait()
    board.apply(alert(7, version=2, status=AlertStatus.RESOLVED))  # resolved after the query read it
    board.apply(alert(8, message='Raised after the query'))
    release.set()

    assert await reload is False  # the query brought nothing the events had not
    assert sorted(board.alerts) == [5, 8]


async def test_a_reload_drops_what_the_database_no_longer_has_open() -> None:
    board = room(loaded=[alert(8)])
    board.apply(alert(7))

    changed = await board.reload()

    assert changed and sorted(board.alerts) == [8]
    assert await board.reload() is False  # nothing new


# --- the dashboard's Alert List in a room ---------------------------------------------------------------------------

def alerts_room(snooze: bool = False, clock: list[datetime] | None = None) -> Room:
    now = clock if clock is not None else [NOW]

    async def load() -> list[AlertView]:
        return []

    view = ALERTS_VIEWS[snooze]
    return Room('test-alerts', RoomKey(view.name, 1, NORTH_NURSE), view, load, lambda: now[0])


def test_a_resolved_row_lingers_greyed_in_the_dashboards_room_then_goes() -> None:
    clock = [NOW]
    alerts = alerts_room(clock=clock)
    alerts.apply(alert(7))

    row = alerts.apply(alert(7, version=2, status=AlertStatus.RESOLVED, resolved_at=NOW, resolved_by='user:charge'))

    assert isinstance(row, dict) and 'Resolved by' in row['html'] and 'vigil-alert-resolved' in row['html']
    assert row['f'] == [3, 'high', 'resolved']  # what a page's own filters look at in the browser
    assert alerts.apply(alert(9, version=2, status=AlertStatus.RESOLVED, resolved_at=NOW)) is None  # never shown
    clock[0] = NOW + RESOLVED_LINGER
    assert alerts.prune() == [] and 7 in alerts.rows
    clock[0] = NOW + RESOLVED_LINGER + timedelta(seconds=1)
    assert alerts.prune() == [7] and alerts.rows == {} and alerts.alerts == {}


def test_the_rows_of_a_dashboards_room_carry_no_ones_own_state_and_snooze_only_where_the_role_may() -> None:
    detected = alert(7, kind=AlertKind.NEWS2, dedup_key='news2:11')
    plain, snoozing = alerts_room(), alerts_room(snooze=True)

    rows = [r for r in (plain.apply(detected), snoozing.apply(detected)) if isinstance(r, dict)]

    assert len(rows) == 2 and all('saving' not in r['html'] and 'vigil-alert-error' not in r['html'] for r in rows)
    assert 'data-vigil-action="snooze"' not in rows[0]['html']
    assert snoozable(detected) and 'data-vigil-action="snooze"' in rows[1]['html']
    assert plain.key != snoozing.key  # the role that decides the button keys the room too


def test_a_kiosk_room_does_not_keep_resolved_rows() -> None:
    board = room()
    board.apply(alert(7))
    assert board.apply(alert(7, version=2, status=AlertStatus.RESOLVED, resolved_at=NOW)) == 7
