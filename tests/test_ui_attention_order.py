"""The needs-attention order on screen, through NiceGUI's simulated users on the quiet demo: the Alert List with a mix
of acknowledged, unacknowledged and escalated alerts (a row moves when its state changes), the waiting tile, and the
patient cards' order and ward choice, remembered per user."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from nicegui.testing import User

from app.domain import Priority, VitalKind
from app.schemas import AlertView, NewAlert, VitalReadingIn
from components.metrics_overview import WAITING_LABEL

from .test_ui_dashboard import (
    COALESCED_RETRIES,
    METRICS_RETRIES,
    choices,
    clerk,
    listed_cards,
    listed_rows,
    patient,
    press,
    raise_for,
    running,
    should_see_card,
    should_see_row,
    sign_in,
)

pytestmark = pytest.mark.usefixtures('quiet_demo')


def listed_alerts(user: User) -> list[int]:
    return listed_rows(user)


def page_elements(user: User) -> set[int]:
    """Return the page's elements (a toast is none: the browser shows it, from the page's signals room)."""
    assert user.client is not None
    return set(user.client.elements)


async def beds(user: User) -> list[str]:
    """Return the beds whose cards the page shows, in order (the browser's store keeps the cards)."""
    by_id = {p.id: p.bed for p in await running()[0].patients.list_patients(await clerk())}
    return [by_id[i] for i in listed_cards(user)]


async def eventually_equal(expected: object, read: Callable[[], Awaitable[object]],
                           retries: int = COALESCED_RETRIES) -> None:
    """Retry an async reading until it equals what is expected (the way should_see retries)."""
    got = None
    for _ in range(retries):
        got = await read()
        if got == expected:
            return
        await asyncio.sleep(0.1)
    assert got == expected


async def test_the_list_puts_unacknowledged_first_then_priority_escalation_and_longest_waiting(user: User) -> None:
    await sign_in(user, 'admin')
    vigil, _, _ = running()
    actor = await clerk()
    critical = await raise_for('AMU-01', 'Acknowledged critical', Priority.CRITICAL)
    await vigil.alerts.acknowledge(actor, critical.id)
    escalated = await raise_for('CAR-01', 'Escalated high', Priority.HIGH)
    await vigil.alerts.escalate(actor, escalated.id)
    medium = await raise_for('AMU-02', 'Medium', Priority.MEDIUM)
    high = await raise_for('RES-01', 'High', Priority.HIGH)
    low = await raise_for('AMU-03', 'Low', Priority.LOW)

    await should_see_row(user, low.id)
    await should_see_row(user, escalated.id, 'Escalated · level 1')
    await should_see_row(user, critical.id, 'Acknowledged')
    assert listed_alerts(user) == [escalated.id, high.id, medium.id, low.id, critical.id]
    # Waiting: the escalated high and the high one; the acknowledged critical is being looked after.
    await user.should_see(marker='metric-waiting', content='data-metric="waiting">2<', retries=METRICS_RETRIES)
    await user.should_see(marker='metric-waiting', content=WAITING_LABEL)

    press(user, 'acknowledge', escalated.id)  # the row moves down among the acknowledged, below the critical
    await should_see_row(user, escalated.id, 'Acknowledged by')
    assert listed_alerts(user) == [high.id, medium.id, low.id, critical.id, escalated.id]

    # A re-alarm (the same trigger raised again at a higher priority) waits again, since the re-alarm.
    pump = await vigil.alerts.raise_alert(actor, NewAlert(priority=Priority.MEDIUM, message='Pump', dedup_key='pump',
                                                          patient_id=(await patient('AMU-04')).id))
    await vigil.alerts.acknowledge(actor, pump.id)
    await should_see_row(user, pump.id, 'Acknowledged')
    assert listed_alerts(user)[-1] == pump.id  # an acknowledged medium: last
    await vigil.alerts.raise_alert(actor, NewAlert(priority=Priority.HIGH, message='Pump', dedup_key='pump',
                                                   patient_id=pump.patient_id))
    await should_see_row(user, pump.id, 'data-vigil-action="acknowledge"')
    assert listed_alerts(user) == [high.id, pump.id, medium.id, low.id, critical.id, escalated.id]


async def reading(bed: str, kind: VitalKind, value: float, unit: str) -> None:
    vigil, _, _ = running()
    await vigil.patients.record_vitals(await clerk(), [VitalReadingIn(
        patient_mrn=(await patient(bed)).mrn, kind=kind, value=value, unit=unit, measured_at=datetime.now(UTC))])


async def test_cards_are_most_urgent_first_then_bed_order_one_tap_away_remembered(user: User) -> None:
    await sign_in(user, 'nurse')  # the eight beds of the Acute Medical Unit
    assert await beds(user) == [f'AMU-0{n}' for n in range(1, 9)]  # nobody needs anything yet: bed order
    elements = page_elements(user)
    vigil, _, _ = running()
    await reading('AMU-03', VitalKind.HEART_RATE, 95, '/min')  # NEWS2 1
    await reading('AMU-06', VitalKind.RESP_RATE, 22, '/min')  # NEWS2 2
    waiting: AlertView = await raise_for('AMU-07', 'Wants the nurse', Priority.MEDIUM)
    answered = await raise_for('AMU-02', 'Fall', Priority.HIGH)
    await vigil.alerts.acknowledge(await clerk(), answered.id)

    acuity = ['AMU-07', 'AMU-06', 'AMU-03', 'AMU-01', 'AMU-02', 'AMU-04', 'AMU-05', 'AMU-08']
    await eventually_equal(acuity, lambda: beds(user))
    assert page_elements(user) == elements  # the cards are the room's, moved in the browser: no element per card

    await vigil.alerts.acknowledge(await clerk(), waiting.id)  # answered: back among the others, by bed
    await eventually_equal(['AMU-06', 'AMU-03', 'AMU-01', 'AMU-02', 'AMU-04', 'AMU-05', 'AMU-07', 'AMU-08'],
                           lambda: beds(user))

    grid = user.find(marker='patient-grid').elements.pop()
    assert grid.props['order'] == 'key'  # the browser's store sorts by the key each card carries: acuity, then bed
    with user:
        user.find(marker='card-order').trigger('change', {'order': 'bed'})
    assert grid.props['order'] == 'bed' and all(r['bed'] for r in grid.room.rows.values())  # type: ignore[attr-defined]
    assert await beds(user) == [f'AMU-0{n}' for n in range(1, 9)]
    assert page_elements(user) == elements

    await user.open('/')  # another page of the same user: the choice is remembered
    await user.should_see(marker='alert-count')
    assert choices(user, 'card-order').values['order'] == 'bed'
    assert await beds(user) == [f'AMU-0{n}' for n in range(1, 9)]
    await reading('AMU-08', VitalKind.RESP_RATE, 23, '/min')  # a worse patient does not move a card in bed order
    await should_see_card(user, (await patient('AMU-08')).id, 'vigil-vital-value">23<',
                          retries=COALESCED_RETRIES)
    assert await beds(user) == [f'AMU-0{n}' for n in range(1, 9)]


async def test_a_charge_nurse_narrows_the_cards_to_one_ward_and_it_is_remembered(user: User) -> None:
    await sign_in(user, 'charge')  # Acute Medical Unit and Cardiology
    await user.should_see(marker='patient-count', content='in your scope')
    total = len(await beds(user))
    options = choices(user, 'card-wards').options('wards')
    assert set(options.values()) >= {'All wards', 'Acute Medical Unit', 'Cardiology'}
    cardiology = next(k for k, v in options.items() if v == 'Cardiology')

    with user:
        user.find(marker='card-wards').trigger('change', {'wards': cardiology})
    shown = await beds(user)
    assert shown and all(bed.startswith('CAR-') for bed in shown)
    # Every card is still in the room, kept by the browser: choosing again asks the server for nothing.
    assert len(user.find(marker='patient-grid').elements.pop().room.rows) == total  # type: ignore[attr-defined]
    await user.should_see(marker='patient-count', content=f'{len(shown)} of {total} in your scope shown')

    await user.open('/')
    await user.should_see(marker='patient-count', content=f'{len(shown)} of {total} in your scope shown')
    assert await beds(user) == shown

    await sign_in(user, 'nurse')  # one ward: nothing to choose
    await user.should_not_see(marker='card-wards')
