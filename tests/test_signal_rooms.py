"""Signals rooms (components/signal_rooms.py): the alarm state and the toasts of a scope's pages, without a browser."""

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from nicegui import Client, core

from app.domain import AlertStatus, Priority
from app.events import AlertEscalated, AlertRaised, AlertReactivated
from app.events.models import AlertAcknowledged, AlertEventBase, AlertResolved, AlertRetriggered
from app.schemas import AlertView
from components.live_rooms import EVENT, RoomKey
from components.signal_rooms import VIEW, PageToasts, SignalRooms, SignalsRoom
from components.toasts import MAX_TOASTS

from .test_live_rooms import HOSPITAL, NORTH_NURSE, NOW, alert


def event(kind: type[AlertEventBase], view: AlertView) -> AlertEventBase:
    return kind(hospital_id=view.hospital_id, ward_id=view.ward_id, occurred_at=NOW, actor='user:nurse', alert=view)


def room(loaded: list[AlertView] | None = None) -> SignalsRoom:
    async def load() -> list[AlertView]:
        return list(loaded or [])

    return SignalsRoom('test-signals', RoomKey(VIEW, 1, NORTH_NURSE), load)


def test_a_room_toasts_and_counts_only_what_its_scope_sees() -> None:
    north = room()

    assert north.apply(event(AlertRaised, alert(7, ward_id=4, ward_name='South', priority=Priority.CRITICAL))) is None
    change = north.apply(event(AlertRaised, alert(8, priority=Priority.CRITICAL)))

    assert change is not None and change['state']['counts']['critical'] == 1 and change['state']['waiting'] == 1
    assert change['show']['id'] == 8 and change['show']['critical']
    options = change['show']['options']
    assert options['message'] == 'Critical · North-1 Patient North-1 · Patient fall'
    assert options['timeout'] == 0 and options['closeBtn'] == 'Dismiss' and options['color'] == 'red-10'
    # Answered elsewhere: the toast goes; an answer to an alert the scope never saw sends nothing.
    assert north.apply(event(AlertAcknowledged, alert(7, ward_id=4, ward_name='South', version=2,
                                                      status=AlertStatus.ACKNOWLEDGED))) is None
    change = north.apply(event(AlertAcknowledged, alert(8, version=2, priority=Priority.CRITICAL,
                                                        status=AlertStatus.ACKNOWLEDGED)))
    assert change is not None and change['hide'] == [8] and change['state']['waiting'] == 0
    assert 'show' not in change


def test_escalations_and_re_alarms_toast_again_repeats_and_older_versions_change_nothing() -> None:
    north = room()
    north.apply(event(AlertRaised, alert(7)))

    assert north.apply(event(AlertRetriggered, alert(7, version=2, occurrences=2))) is None  # a repeat: nothing
    assert north.apply(event(AlertRaised, alert(7, version=1, message='Older'))) is None
    assert north.state['counts']['high'] == 1 and north.alerts[7].version == 2
    escalated = north.apply(event(AlertEscalated, alert(7, version=3, escalation_level=1)))
    assert escalated is not None and escalated['show']['options']['message'].startswith('Escalated to level 1 · ')
    worse = north.apply(event(AlertReactivated, alert(7, version=4, priority=Priority.CRITICAL)))
    assert worse is not None and worse['show']['options']['message'].startswith('Worse, waiting again · Critical')
    assert worse['state']['counts'] == {'critical': 1, 'high': 0, 'medium': 0, 'low': 0}


def test_at_most_five_toasts_the_oldest_passing_go_first_and_a_page_shows_those_since_it_opened() -> None:
    north = room()
    north.apply(event(AlertRaised, alert(1, priority=Priority.CRITICAL, message='Code Blue')))
    early = PageToasts(north)
    for alert_id in range(2, 2 + MAX_TOASTS):
        north.apply(event(AlertRaised, alert(alert_id, message=f'Fall {alert_id}')))
    late = PageToasts(north)
    north.apply(event(AlertRaised, alert(20, priority=Priority.MEDIUM, message='Needs a hand')))

    assert [t['id'] for t in early.shown()] == [1, 4, 5, 6, 20]  # the critical one stays; 2 and 3 went first
    # Opened later: the waiting critical alert (as after a reload) and what came since.
    assert late.texts() == ['Critical · North-1 Patient North-1 · Code Blue',
                            'Medium · North-1 Patient North-1 · Needs a hand']


async def test_a_reload_keeps_waiting_critical_toasts_drops_answered_ones_and_what_events_brought_meanwhile() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    # The query saw alert 7 waiting (version 1) and alert 5 already acknowledged; not yet alert 8.
    stale = [alert(7, priority=Priority.CRITICAL), alert(5, version=2, status=AlertStatus.ACKNOWLEDGED),
             alert(9, priority=Priority.CRITICAL, message='Loaded')]

    async def slow_load() -> list[AlertView]:
        started.set()
        await release.wait()
        return stale

    north = SignalsRoom('test-signals', RoomKey(VIEW, 1, NORTH_NURSE), slow_load)
    north.apply(event(AlertRaised, alert(5)))
    north.apply(event(AlertRaised, alert(7, priority=Priority.CRITICAL)))
    reload = asyncio.create_task(north.reload())
    await started.wait()
    north.apply(event(AlertResolved, alert(7, version=2, status=AlertStatus.RESOLVED)))  # after the query read it
    north.apply(event(AlertRaised, alert(8, message='Raised after the query')))
    release.set()

    assert await reload is True and north.unsent
    assert sorted(north.alerts) == [5, 8, 9]
    assert list(north.toasts) == [8, 9]  # 5 was answered, 7 resolved; 9 is a waiting critical one
    snapshot = north.snapshot()
    assert snapshot['snapshot'] and snapshot['active'] == [8, 9] and snapshot['state']['waiting'] == 2
    assert [t['id'] for t in snapshot['critical']] == [9]


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Record every room event sent (socket.io room, payload) instead of sending it."""
    sent: list[tuple[str, dict[str, Any]]] = []

    async def recording(name: str, data: dict[str, Any], **kwargs: Any) -> None:
        assert name == EVENT
        sent.append((str(kwargs.get('room') or kwargs.get('to')), data))

    monkeypatch.setattr(core.sio, 'emit', recording)
    return sent


def page(client_id: str) -> Client:
    return SimpleNamespace(id=client_id)  # type: ignore[return-value]  # a room knows its pages by id only


async def test_one_emit_per_alert_for_all_the_pages_of_a_scope_each_with_the_next_sequence_number(
        emitted: list[tuple[str, dict[str, Any]]]) -> None:
    rooms = SignalRooms(lambda: NOW)
    loads: list[str] = []

    def loader(scope: str) -> Any:
        async def load() -> list[AlertView]:
            loads.append(scope)
            return []
        return load

    nurses = [await rooms.enter(page(f'nurse-{i}'), 1, NORTH_NURSE, loader('north')) for i in range(5)]
    display = await rooms.enter(page('board'), 1, HOSPITAL, loader('hospital'))
    other = await rooms.enter(page('elsewhere'), 2, NORTH_NURSE, loader('other hospital'))
    assert all(r is nurses[0] for r in nurses) and display is not nurses[0] and other is not nurses[0]
    assert loads == ['north', 'hospital', 'other hospital']  # one load per room

    await rooms.on_alert(event(AlertRaised, alert(7, priority=Priority.CRITICAL)))
    await rooms.on_alert(event(AlertRaised, alert(8, ward_id=4, ward_name='South')))  # not the nurses' ward
    await rooms.on_alert(event(AlertAcknowledged, alert(7, version=2, priority=Priority.CRITICAL,
                                                        status=AlertStatus.ACKNOWLEDGED)))

    north = nurses[0].name
    assert [(r, p['seq']) for r, p in emitted if r == north] == [(north, 1), (north, 2)]
    assert [(r, p['seq']) for r, p in emitted if r == display.name] == [(display.name, 1), (display.name, 2),
                                                                       (display.name, 3)]
    assert not [r for r, _ in emitted if r == other.name]  # another hospital's room heard nothing
    assert emitted[0][1]['show']['id'] == 7 and emitted[-1][1]['hide'] == [7]

    for i in range(5):
        rooms.leave(page(f'nurse-{i}'))
    assert rooms.rooms_of(1) == [display] and rooms.member_count == 2
