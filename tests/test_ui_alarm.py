"""The alarm state every staff page carries, and toasts that follow the alert, through NiceGUI's simulated users.

Pages are opened on the audit page: the alarm belongs to the shared frame, so every staff page has it.
"""

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from app.domain import Priority
from app.schemas import NewAlert
from components.signal_rooms import SignalsRoom

from .test_ui_dashboard import (
    DEMO_PASSWORD,
    SIGN_IN_RETRIES,
    TOASTS,
    clerk,
    eventually,
    raise_for,
    running,
    shown_toasts,
)

pytestmark = pytest.mark.usefixtures('quiet_demo')


async def open_audit(user: User, username: str) -> None:
    """Sign in and land on the audit page (a staff page other than the dashboard)."""
    await user.open('/login?next=/audit')
    user.find(kind=ui.input, content='Username').type(username)
    user.find(kind=ui.input, content='Password').type(DEMO_PASSWORD)
    user.find(kind=ui.button, content='Log in').click()
    await user.should_see(marker='alarm-state', retries=SIGN_IN_RETRIES)


def carrier(user: User) -> ui.element:
    with user:
        return user.find(marker='alarm-state').elements.pop()


def signals(user: User) -> SignalsRoom:
    """Return the page's signals room (whose events give its browser the alarm state and the toasts)."""
    room: SignalsRoom = carrier(user).signals.room  # type: ignore[attr-defined]
    return room


def pushed(user: User) -> dict[str, Any]:
    """Return the alarm state the page's browser holds (its signals room's)."""
    return signals(user).state


async def until(user: User, check: Callable[[dict[str, Any]], bool], retries: int = 50) -> dict[str, Any]:
    """Wait until the pushed state passes a check (retried like should_see), and return it."""
    for _ in range(retries):
        state = pushed(user)
        if state and check(state):
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f'the pushed state never passed the check: {pushed(user)}')




async def test_a_page_pushes_counts_and_the_top_waiting_alert_only_when_they_change(user: User) -> None:
    await open_audit(user, 'nurse')
    state = await until(user, lambda s: s['waiting'] == 0)
    assert state['counts'] == {'critical': 0, 'high': 0, 'medium': 0, 'low': 0} and state['top'] is None

    critical = await raise_for('AMU-02', 'Code Blue', Priority.CRITICAL)
    state = await until(user, lambda s: s['counts']['critical'] == 1)
    assert state['waiting'] == 1
    assert state['top'] == {'id': critical.id, 'priority': 'critical',
                            'label': 'Critical · Bed AMU-02 · Acute Medical Unit · Code Blue'}  # no patient name
    await raise_for('AMU-03', 'Needs a hand', Priority.MEDIUM)
    state = await until(user, lambda s: s['counts']['medium'] == 1)
    assert state['waiting'] == 1  # a medium alert does not wait until it escalates
    assert state['top']['id'] == critical.id

    vigil, _, _ = running()
    repeat = NewAlert(priority=Priority.LOW, message='Call bell', patient_id=critical.patient_id, dedup_key='bell')
    await vigil.alerts.raise_alert(await clerk(), repeat)
    await until(user, lambda s: s['counts']['low'] == 1)

    # Another ward's alert is outside the nurse's scope, a repeat changes no count: nothing is sent at all.
    before = signals(user).seq
    elsewhere = await raise_for('CAR-01', 'Not the nurse\'s ward', Priority.CRITICAL)
    again = await vigil.alerts.raise_alert(await clerk(), repeat)
    assert again.occurrences == 2
    _, hub, _ = running()
    assert hub.channel(elsewhere.hospital_id).last_seq >= again.version  # both events went through the hub
    assert signals(user).seq == before

    await vigil.alerts.acknowledge(await clerk(), critical.id)
    state = await until(user, lambda s: s['counts']['critical'] == 0)
    assert state['waiting'] == 0 and state['top'] is None


async def test_a_toast_goes_when_its_alert_is_acknowledged_elsewhere(user: User, create_user: type[User]) -> None:
    phone = create_user()  # type: ignore[operator]
    await open_audit(user, 'nurse')
    await open_audit(phone, 'nurse')
    critical = await raise_for('AMU-02', 'Code Blue', Priority.CRITICAL)
    high = await raise_for('AMU-04', 'Fall', Priority.HIGH)
    text = 'Critical · AMU-02 Marcus Okafor · Code Blue'
    for screen in (user, phone):
        await screen.should_see(marker=TOASTS, content=text)

    vigil, _, _ = running()
    await vigil.alerts.acknowledge(await clerk(), critical.id)
    await vigil.alerts.resolve(await clerk(), high.id)

    for screen in (user, phone):
        await screen.should_not_see(marker=TOASTS, content=text, retries=30)
        await screen.should_not_see(marker=TOASTS, content='High · AMU-04', retries=30)


async def test_waiting_critical_alerts_are_toasted_again_after_a_reload(user: User) -> None:
    await open_audit(user, 'nurse')
    waiting = await raise_for('AMU-02', 'Code Blue', Priority.CRITICAL)
    answered = await raise_for('AMU-03', 'Seizure', Priority.CRITICAL)
    await raise_for('AMU-04', 'Fall', Priority.HIGH)
    vigil, _, _ = running()
    await vigil.alerts.acknowledge(await clerk(), answered.id)
    await user.should_see(marker=TOASTS, content='Code Blue')

    await user.open('/audit')  # a reload: a new page

    await user.should_see(marker=TOASTS, content='Critical · AMU-02 Marcus Okafor · Code Blue')
    shown = shown_toasts(user)
    assert not [m for m in shown if 'Seizure' in m or 'Fall' in m], shown  # only waiting critical ones come back
    assert shown['Critical · AMU-02 Marcus Okafor · Code Blue']['options']['timeout'] == 0
    assert waiting.id  # it is still unacknowledged


async def test_sound_is_on_by_default_and_both_choices_are_remembered(user: User) -> None:
    await open_audit(user, 'nurse')
    await user.should_see('Sound on')
    config = json.loads(carrier(user).props['data-config'])
    assert config['enabled'] and config['audible'] == ['critical'] and not config['notify']
    assert config['signals']['critical'] == {'iec': 'high', 'offsets': [0.0, 0.25, 0.5, 1.0, 1.25, 2.4, 2.65, 2.9,
                                                                          3.4, 3.65], 'pulse': 0.15, 'pitch': 880.0,
                                             'repeat': 10.0}

    user.find(marker='sound').click()
    user.find(marker='account').click()  # the menu is built when first opened
    user.find(marker='notify').click()
    await user.should_see('Sound off')
    await user.should_see('Browser notifications: on')

    await user.open('/audit')
    await user.should_see('Sound off')
    user.find(marker='account').click()
    await user.should_see('Browser notifications: on')
    config = json.loads(carrier(user).props['data-config'])
    assert not config['enabled'] and config['notify']


async def test_a_page_whose_sign_in_ended_leaves_its_signals_room_at_once(user: User) -> None:
    await open_audit(user, 'nurse')
    room = signals(user)
    page = user.client
    assert page is not None and page.id in room.members
    _, hub, _ = running()
    entry = next(e for e in hub.sessions(room.key.hospital_id) if e.client_id == page.id)
    assert entry.user_id is not None

    hub.end_sessions(room.key.hospital_id, entry.user_id)  # signed out on another device

    await eventually(lambda: page.id not in room.members)
    assert not page.is_deleted  # dropped only after a grace: meanwhile its room sends it nothing more
