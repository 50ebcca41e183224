"""The dashboard as staff see it, through NiceGUI's simulated users on the served demo (quiet patients).

Demo accounts: admin, charge (Acute Medical Unit + Cardiology), nurse (Acute Medical Unit) and doctor of Vigil
General Hospital; rnurse of Riverside Community Hospital. Alerts posted "elsewhere" go through the service layer of
the running server, as the HTTP API or the detection would.
"""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from nicegui import ElementFilter, core, ui
from nicegui import app as nicegui_app
from nicegui.testing import User

from app.bootstrap import Vigil
from app.domain import AlertKind, AlertStatus, Priority, VitalKind
from app.errors import NotAllowed
from app.schemas import Actor, AlertView, NewAlert, PatientView, VitalReadingIn
from components.alert_row import alert_html
from components.block_rooms import BlockRoom, BlockStore
from components.card_rooms import CardsRoom
from components.choices import Choices
from components.live import LiveHub
from components.live_rooms import EVENT, Room
from components.metrics_overview import MetricsFeed
from components.presence import YOU
from components.room_store import RoomStore
from components.theme import DASH

# NOTE: every sign-in spends ~0.2 s on argon2 in a thread; should_see polls every 0.1 s, so give it time.
SIGN_IN_RETRIES = 50
# Presence and vitals reach pages through the hub's one-second coalescer.
COALESCED_RETRIES = 30
# Metrics are recomputed at once after a quiet spell, then at most every few seconds.
METRICS_RETRIES = 60
DEMO_PASSWORD = 'demo'


pytestmark = pytest.mark.usefixtures('quiet_demo')


def running() -> tuple[Vigil, LiveHub, MetricsFeed]:
    state = nicegui_app.state
    return state.vigil, state.hub, state.metrics_feed


async def sign_in(user: User, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the login page and wait for the dashboard."""
    await user.open('/login')
    user.find(kind=ui.input, content='Username').type(username)
    user.find(kind=ui.input, content='Password').type(password)
    user.find(kind=ui.button, content='Log in').click()
    await user.should_see(marker='alert-count', retries=SIGN_IN_RETRIES)


async def clerk(slug: str = 'general') -> Actor:
    """The actor for alerts posted from outside the page (as the API or detection would post them)."""
    vigil, _, _ = running()
    return Actor.system('ward clerk', hospital_id=(await vigil.hospitals.get(slug)).id)


async def patient(bed: str, slug: str = 'general') -> PatientView:
    vigil, _, _ = running()
    patients = await vigil.patients.list_patients(await clerk(slug))
    return next(p for p in patients if p.bed == bed)


async def raise_for(bed: str, message: str, priority: Priority = Priority.HIGH, slug: str = 'general') -> AlertView:
    vigil, _, _ = running()
    return await vigil.alerts.raise_alert(await clerk(slug), NewAlert(
        priority=priority, message=message, patient_id=(await patient(bed, slug)).id))


async def raise_for_ward(ward: str, message: str, priority: Priority = Priority.HIGH) -> AlertView:
    vigil, _, _ = running()
    actor = await clerk()
    wards = {w.name: w.id for w in await vigil.hospitals.wards_of(actor.hospital_id or 0)}
    return await vigil.alerts.raise_alert(actor, NewAlert(priority=priority, message=message, ward_id=wards[ward]))


async def eventually(condition: Callable[[], bool], retries: int = 30) -> None:
    """Retry a condition the way should_see retries (for state that is no element's content)."""
    for _ in range(retries):
        if condition():
            return
        await asyncio.sleep(0.1)
    raise AssertionError('the condition did not become true')


BUTTONS = {action: f'data-vigil-action="{action}"' for action in ('acknowledge', 'resolve')}


def press(user: User, action: str, alert_id: int) -> None:
    """Press a row's button: it must be shown and enabled, and the list's listener gets what the browser sends."""
    row = row_html(user, alert_id)
    assert f'{BUTTONS[action]} data-alert="{alert_id}">' in row, f'no enabled {action} button in {row}'
    user.find(marker='alert-rows').trigger('click', {'action': action, 'alert': alert_id})


def choices(user: User, marker: str) -> Choices:
    """Return the bar of choices with this marker (the Alert List's filters, the Patient Cards' toolbar)."""
    element = user.find(marker=marker).elements.pop()
    assert isinstance(element, Choices)
    return element


def html_of(user: User, marker: str) -> str:
    """Return the HTML content inside the element with this marker (alert rows and cards are one HTML block)."""
    element = user.find(marker=marker).elements.pop()
    assert isinstance(element, ui.html)
    return element.content


def shown_row(user: User, alert_id: int) -> str | None:
    """Return the HTML of an alert's row as the page shows it, None if it shows none.

    The dashboard's rows are kept by the browser's store of the Alert List's room: the store tells what its page
    shows (the room's rows, as this page's filters admit them, with this page's own state laid over them). The
    patient page's rows are elements of their own.
    """
    if user.client is None:
        return None
    with user.client:
        stores = [e for e in ElementFilter(kind=RoomStore, marker='alert-rows')]
        if stores:
            return stores[0].row_html(alert_id)
        rows = [e for e in ElementFilter(kind=ui.html, marker=f'alert-{alert_id}')]
    return rows[0].content if rows else None


def listed_rows(user: User) -> list[int]:
    """Return the ids of the rows the dashboard shows, in order."""
    store = user.find(marker='alert-rows').elements.pop()
    assert isinstance(store, RoomStore)
    return store.shown()


def row_html(user: User, alert_id: int) -> str:
    """Return the HTML of a row the page shows."""
    html = shown_row(user, alert_id)
    assert html is not None, f'alert {alert_id} is not shown'
    return html


# The element that says what the page's browser toasts (the simulated user runs no JavaScript: components/alarm.py
# SignalsLine, whose content includes the texts of the toasts its signals room has the browser show).
TOASTS = 'toasts'


def shown_toasts(user: User) -> dict[str, dict[str, Any]]:
    """Return the toasts the page shows (its signals room's, as signal_rooms.PageToasts tells), by text."""
    with user:
        carrier = user.find(marker=TOASTS).elements.pop()
    return {t['options']['message']: t for t in carrier.signals.shown()}  # type: ignore[attr-defined]


async def wait_to_see(shown: Callable[[], str | None], what: str, content: str | None, retries: int) -> None:
    """Wait (like should_see) until `shown` returns HTML, with `content` in it if given."""
    html = None
    for _ in range(retries):
        html = shown()
        if html is not None and (content is None or content in html):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f'expected to see {what}' + (f' with {content!r}' if content else '') + f'; it shows {html!r}')


async def should_see_row(user: User, alert_id: int, content: str | None = None, *, retries: int = 3) -> None:
    """Wait (like should_see) until the page shows the alert's row, with `content` in its HTML if given."""
    await wait_to_see(lambda: shown_row(user, alert_id), f'the row of alert {alert_id}', content, retries)


async def should_not_see_row(user: User, alert_id: int, content: str | None = None, *, retries: int = 3) -> None:
    """Wait (like should_not_see) until the page shows no row of the alert (or one without `content`)."""
    html = None
    for _ in range(retries):
        html = shown_row(user, alert_id)
        if html is None or (content is not None and content not in html):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f'expected not to see the row of alert {alert_id}'
                         + (f' with {content!r}' if content else '') + f'; it shows {html!r}')


def shown_card(user: User, patient_id: int) -> str | None:
    """Return the HTML of a patient's card as the dashboard shows it, None if it shows none.

    The cards are kept by the browser's store of the page's cards room: the store tells what its page shows (the
    room's cards, in the order and of the wards this page's user chose).
    """
    if user.client is None:
        return None
    with user.client:
        stores = [e for e in ElementFilter(kind=RoomStore, marker='patient-grid')]
    return stores[0].row_html(patient_id) if stores else None


def card_of(user: User, patient_id: int) -> str:
    """Return the HTML of a card the page shows."""
    html = shown_card(user, patient_id)
    assert html is not None, f'the card of patient {patient_id} is not shown'
    return html


def listed_cards(user: User) -> list[int]:
    """Return the patients whose cards the dashboard shows, in order."""
    store = user.find(marker='patient-grid').elements.pop()
    assert isinstance(store, RoomStore)
    return store.shown()


async def should_see_card(user: User, patient_id: int, content: str | None = None, *, retries: int = 3) -> None:
    """Wait (like should_see) until the page shows the patient's card, with `content` in its HTML if given."""
    await wait_to_see(lambda: shown_card(user, patient_id), f'the card of patient {patient_id}', content, retries)


# --- blocks -------------------------------------------------------------------------------------------------------

async def test_the_dashboard_shows_metrics_alerts_patients_and_who_is_online(user: User) -> None:
    await sign_in(user, 'nurse')

    for tile in ('open', 'waiting', 'ack', 'resolve', 'hour', 'patients', 'staff'):
        await user.should_see(marker=f'metric-{tile}')
    await user.should_see('No open alerts in your scope.')
    await user.should_see('8 in your scope')  # the eight beds of the Acute Medical Unit
    await should_see_card(user, (await patient('AMU-01')).id)
    await user.should_not_see('Nora Castellanos')  # a Riverside patient
    await user.should_not_see('Samuel Achterberg')  # a Cardiology patient, not on the nurse's ward
    await user.should_see(marker='presence', content='Sam Patel')
    assert not [e for e in user.client.elements.values() if isinstance(e, ui.timer)]  # no per-page timers


async def test_an_alert_raised_elsewhere_appears_at_once_with_everything_a_nurse_needs(user: User) -> None:
    await sign_in(user, 'nurse')

    alert = await raise_for('AMU-03', 'Code Blue', Priority.CRITICAL)

    await should_see_row(user, alert.id)
    row = row_html(user, alert.id)
    for text in ('Critical', 'vigil-flash', 'Priya Raman', 'Bed AMU-03', 'Acute Medical Unit', 'Code Blue', 'Active',
                 'just now', 'Raised by ward clerk', f'href="/patients/{alert.patient_id}"'):
        assert text in row
    assert f'data-vigil-since="{alert.created_at.isoformat()}"' in row  # the browser keeps the age current
    assert 'Escalated' not in row and 'occurrences' not in row
    await user.should_see(marker=TOASTS, content='Critical · AMU-03 Priya Raman · Code Blue')
    await user.should_see('1 open')
    assert alert.patient_id is not None
    await should_see_card(user, alert.patient_id, 'Critical · 1 open')


async def test_a_new_alert_costs_a_page_no_element_for_its_row_nor_for_its_toast(user: User) -> None:
    await sign_in(user, 'nurse')
    client = user.client
    assert client is not None
    before = set(client.elements)

    alert = await raise_for('AMU-02', 'Pain 7/10', Priority.MEDIUM)

    await should_see_row(user, alert.id)
    added = [client.elements[i] for i in set(client.elements) - before]
    assert added == [], added  # the row is the room's, kept by the browser's store; the toast its signals room's
    await raise_for('CAR-02', 'Not on the nurse\'s ward', Priority.CRITICAL)
    await raise_for('AMU-02', 'Another one', Priority.LOW)
    await should_see_row(user, alert.id + 2, 'Another one')
    await user.should_see(marker=TOASTS, content='Another one')
    added = [client.elements[i] for i in set(client.elements) - before]
    assert added == [], added  # the browser makes the toasts and the "+1 more" button the second one brings
    assert list(shown_toasts(user)) == ['Medium · AMU-02 Marcus Okafor · Pain 7/10',
                                        'Low · AMU-02 Marcus Okafor · Another one']  # not the other ward's



async def test_pages_that_show_the_same_card_or_row_hold_one_copy_of_its_html(
        user: User, create_user: type[User]) -> None:
    other = create_user()  # type: ignore[operator]
    await sign_in(user, 'charge')
    await sign_in(other, 'charge')
    card = (await patient('AMU-02')).id
    alert = await raise_for('AMU-02', 'Shared between the pages', Priority.HIGH)
    for page in (user, other):
        await should_see_row(page, alert.id)
        await should_see_card(page, card)

    await eventually(lambda: card_of(user, card) == card_of(other, card))  # both caught up
    assert card_of(user, card) is card_of(other, card)  # one string in the server, not one per page
    # The row is the room's: both pages show the very same string (rendered once for the room).
    await eventually(lambda: row_html(user, alert.id) == row_html(other, alert.id))
    assert row_html(user, alert.id) is row_html(other, alert.id)


async def test_rows_are_most_urgent_then_longest_waiting_first(user: User) -> None:
    await sign_in(user, 'admin')
    low = await raise_for('AMU-01', 'Low first', Priority.LOW)
    high_old = await raise_for('AMU-02', 'High older', Priority.HIGH)
    critical = await raise_for('CAR-01', 'Critical', Priority.CRITICAL)
    high_new = await raise_for('RES-01', 'High newer', Priority.HIGH)

    await should_see_row(user, high_new.id)
    assert listed_rows(user) == [a.id for a in (critical, high_old, high_new, low)]  # the needs-attention order


async def test_escalation_and_occurrences_are_shown(user: User) -> None:
    await sign_in(user, 'admin')
    vigil, _, _ = running()
    actor = await clerk()
    first = await vigil.alerts.raise_alert(actor, NewAlert(priority=Priority.HIGH, message='SpO2 low',
                                                           patient_id=(await patient('RES-02')).id, dedup_key='spo2'))
    await vigil.alerts.raise_alert(actor, NewAlert(priority=Priority.HIGH, message='SpO2 low',
                                                   patient_id=first.patient_id, dedup_key='spo2'))
    await vigil.alerts.escalate(actor, first.id)

    await should_see_row(user, first.id, 'Escalated · level 1')
    assert '2 occurrences' in row_html(user, first.id)


def test_a_row_says_when_the_condition_recovered_and_until_when_it_is_snoozed() -> None:
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    alert = AlertView(
        id=7, hospital_id=1, ward_id=1, ward_name='Respiratory', patient_id=3, patient_name='Ravi <b>Chandran</b>',
        patient_mrn='G100304', bed='RES-04', kind=AlertKind.CRITICAL_VALUE, priority=Priority.CRITICAL,
        status=AlertStatus.ACTIVE, message='SpO2 84 %', dedup_key='critical:spo2:3', occurrences=1,
        escalation_level=0, next_escalation_at=None, created_at=now - timedelta(minutes=3), created_by='detection',
        last_triggered_at=now, acknowledged_at=None, acknowledged_by=None, resolved_at=None, resolved_by=None,
        version=3, cleared_at=now - timedelta(minutes=1), snoozed_until=now + timedelta(minutes=30))

    html = alert_html(alert, now)

    assert 'Recovered <time datetime="2026-03-02T07:59:00+00:00" data-vigil-at="2026-03-02T07:59:00+00:00">' in html
    assert 'Snoozed until <time datetime="2026-03-02T08:30:00+00:00"' in html
    assert '3 min ago' in html and 'Raised by' not in html  # detected, not raised by a person
    assert 'Ravi &lt;b&gt;Chandran&lt;/b&gt;' in html  # names are text, never markup
    assert 'Snoozed' not in alert_html(alert, now + timedelta(hours=1))  # a snooze that ended says nothing
    assert 'Resolved · saving…' in alert_html(alert, now, pending=AlertStatus.RESOLVED)


def test_a_row_names_people_who_acted_through_an_integration_without_the_token_prefix() -> None:
    now = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    alert = AlertView(
        id=8, hospital_id=1, ward_id=1, ward_name='Acute Medical Unit', patient_id=3, patient_name='Priya Raman',
        patient_mrn='G100103', bed='AMU-03', kind=AlertKind.MANUAL, priority=Priority.HIGH,
        status=AlertStatus.ACKNOWLEDGED, message='Patient fall', dedup_key=None, occurrences=1, escalation_level=0,
        next_escalation_at=None, created_at=now, created_by='token:Nurse call system', last_triggered_at=now,
        acknowledged_at=now, acknowledged_by='Jordan Ellis (via token:Nurse call system)', resolved_at=None,
        resolved_by=None, version=2)

    html = alert_html(alert, now)

    assert 'Acknowledged by Jordan Ellis (via Nurse call system)' in html
    assert 'Raised by Nurse call system' in html
    assert 'token:' not in html


async def critical_heart_rate(bed: str) -> AlertView:
    """Send a heart rate above the critical limit for a patient and return the critical-value alert it raised."""
    vigil, _, _ = running()
    patient_ = await patient(bed)
    await vigil.patients.record_vitals(await clerk(), [VitalReadingIn(
        patient_mrn=patient_.mrn, kind=VitalKind.HEART_RATE, value=142, unit='/min', measured_at=datetime.now(UTC))])
    alerts = await vigil.alerts.list_alerts(await clerk())
    return next(a for a in alerts if a.kind is AlertKind.CRITICAL_VALUE and a.patient_id == patient_.id)


SNOOZE_BUTTON = 'data-vigil-action="snooze"'


async def test_a_charge_nurse_snoozes_a_detected_alert_with_a_reason_and_every_screen_shows_until_when(
        user: User, create_user: type[User]) -> None:
    doctor = create_user()  # type: ignore[operator]
    await sign_in(user, 'charge')
    await sign_in(doctor, 'doctor')
    alert = await critical_heart_rate('AMU-02')
    manual = await raise_for('AMU-02', 'Wants a word with the doctor', Priority.HIGH)
    await should_see_row(user, alert.id, SNOOZE_BUTTON)
    await should_see_row(user, manual.id)
    assert SNOOZE_BUTTON not in row_html(user, manual.id)  # only detected alerts pause re-alerting

    user.find(marker='alert-rows').trigger('click', {'action': 'snooze', 'alert': alert.id})
    await user.should_see(marker='snooze-reason')
    user.find(marker='snooze-submit').click()
    await user.should_see('Say why (a few words), so that the next person knows.')
    vigil, _, _ = running()
    assert (await vigil.alerts.get(await clerk(), alert.id)).snoozed_until is None  # nothing saved without a reason

    with user:
        user.find(marker='snooze-minutes').elements.pop().set_value(60)  # type: ignore[attr-defined]
    user.find(marker='snooze-reason').type('Known tachycardia, cardiology reviewed')
    before = datetime.now(UTC)
    user.find(marker='snooze-submit').click()

    await should_see_row(doctor, alert.id, 'Snoozed until')
    await should_see_row(user, alert.id, 'Snoozed until')
    snoozed = await vigil.alerts.get(await clerk(), alert.id)
    assert snoozed.snoozed_until is not None
    assert timedelta(minutes=59) < snoozed.snoozed_until - before < timedelta(minutes=61)
    assert snoozed.status is AlertStatus.ACTIVE  # a snooze is no acknowledgement
    [entry] = [e for e in await vigil.alerts.audit_trail(await clerk(), alert.id) if e.type.value == 'snoozed']
    assert entry.actor == 'Jordan Ellis (charge)' and entry.note is not None and 'Known tachycardia' in entry.note
    dialog = user.find(marker='snooze-dialog').elements.pop()
    await eventually(lambda: not dialog.value)  # type: ignore[attr-defined]


async def test_nurses_get_no_snooze_button_and_the_service_refuses_their_snooze(user: User) -> None:
    await sign_in(user, 'nurse')
    alert = await critical_heart_rate('AMU-03')
    await should_see_row(user, alert.id, BUTTONS['acknowledge'])
    assert SNOOZE_BUTTON not in row_html(user, alert.id)

    user.find(marker='alert-rows').trigger('click', {'action': 'snooze', 'alert': alert.id})  # a tampered browser
    press(user, 'acknowledge', alert.id)  # handled after the forged click
    await should_see_row(user, alert.id, 'Acknowledged by Sam Patel')
    await user.should_not_see(marker='snooze-dialog')

    vigil, _, _ = running()
    nurse = Actor.for_user(await vigil.users.authenticate('nurse', DEMO_PASSWORD, address='127.0.0.1'))
    with pytest.raises(NotAllowed):
        await vigil.alerts.snooze(nurse, alert.id, 30, 'Patient is asleep')
    assert (await vigil.alerts.get(await clerk(), alert.id)).snoozed_until is None


# --- two users, two hospitals, roles --------------------------------------------------------------------------

async def test_two_users_see_each_others_acknowledge_and_resolve_and_the_other_hospital_sees_nothing(
        user: User, create_user: type[User]) -> None:
    charge, riverside = create_user(), create_user()  # type: ignore[operator]
    await sign_in(user, 'nurse')
    await sign_in(charge, 'charge')
    await sign_in(riverside, 'rnurse')
    alert = await raise_for('AMU-04', 'Patient fall', Priority.HIGH)
    await should_see_row(user, alert.id, BUTTONS['acknowledge'])
    await should_see_row(charge, alert.id, BUTTONS['acknowledge'])

    press(user, 'acknowledge', alert.id)
    await should_see_row(charge, alert.id, 'Acknowledged by Sam Patel')
    await should_not_see_row(charge, alert.id, BUTTONS['acknowledge'])

    press(charge, 'resolve', alert.id)
    await should_see_row(user, alert.id, 'Resolved by Jordan Ellis')
    await should_not_see_row(user, alert.id, BUTTONS['resolve'])

    await should_not_see_row(riverside, alert.id)
    await riverside.should_not_see('Patient fall')
    assert shown_toasts(riverside) == {}
    await riverside.should_see('No open alerts in your scope.')


async def test_each_role_sees_its_own_scope(user: User, create_user: type[User]) -> None:
    doctor, charge = create_user(), create_user()  # type: ignore[operator]
    await sign_in(user, 'nurse')  # Acute Medical Unit
    await sign_in(doctor, 'doctor')  # critical and high everywhere, plus escalated
    await sign_in(charge, 'charge')  # Acute Medical Unit and Cardiology, plus escalated
    cardiology = await raise_for('CAR-02', 'Cardiology medium', Priority.MEDIUM)
    respiratory = await raise_for('RES-04', 'Respiratory critical', Priority.CRITICAL)
    amu = await raise_for('AMU-05', 'AMU medium', Priority.MEDIUM)

    await should_see_row(user, amu.id)
    await should_see_row(charge, cardiology.id)
    await should_see_row(charge, amu.id)
    await should_see_row(doctor, respiratory.id)
    await should_not_see_row(user, cardiology.id)
    await should_not_see_row(user, respiratory.id)
    await user.should_not_see('Respiratory critical')  # not even as a toast
    await should_not_see_row(charge, respiratory.id)
    await should_not_see_row(doctor, cardiology.id)
    await should_not_see_row(doctor, amu.id)

    vigil, _, _ = running()
    await vigil.alerts.escalate(await clerk(), cardiology.id)
    await should_see_row(doctor, cardiology.id, 'Escalated · level 1')
    await should_not_see_row(user, cardiology.id)


async def test_a_refused_acknowledge_is_rolled_back_with_the_reason(user: User) -> None:
    await sign_in(user, 'nurse')
    alert = await raise_for('AMU-06', 'Chest pain', Priority.HIGH)
    await should_see_row(user, alert.id, BUTTONS['acknowledge'])
    vigil, hub, _ = running()
    hub.stop()  # someone resolves it and the news has not reached this page yet
    await vigil.alerts.resolve(await clerk(), alert.id)

    press(user, 'acknowledge', alert.id)

    await should_see_row(user, alert.id, 'Not acknowledged: Alert')
    assert 'already resolved' in row_html(user, alert.id)
    await should_see_row(user, alert.id, 'Resolved by ward clerk')  # the state, reloaded
    assert 'Acknowledged' not in row_html(user, alert.id)


async def test_a_forged_click_for_an_alert_outside_the_scope_changes_nothing(user: User) -> None:
    await sign_in(user, 'nurse')
    cardiology = await raise_for('CAR-05', 'Cardiology only', Priority.HIGH)
    own = await raise_for('AMU-05', 'On the nurse\'s ward', Priority.HIGH)
    await should_see_row(user, own.id)
    rows = user.find(marker='alert-rows')

    rows.trigger('click', {'action': 'resolve', 'alert': cardiology.id})  # what a tampered browser could send
    rows.trigger('click', {'action': 'delete', 'alert': own.id})
    rows.trigger('click', {'action': 'resolve', 'alert': 'everything'})
    press(user, 'acknowledge', own.id)  # handled after the forged ones

    await should_see_row(user, own.id, 'Acknowledged by Sam Patel')
    vigil, _, _ = running()
    assert (await vigil.alerts.get(await clerk(), cardiology.id)).status is AlertStatus.ACTIVE
    await should_not_see_row(user, cardiology.id)


async def test_an_acknowledge_shows_at_once_before_the_server_answers(user: User) -> None:
    await sign_in(user, 'nurse')
    alert = await raise_for('AMU-07', 'Pain 8/10', Priority.MEDIUM)
    await should_see_row(user, alert.id, BUTTONS['acknowledge'])

    press(user, 'acknowledge', alert.id)
    await asyncio.sleep(0)  # not a wait: lets the click handler run up to its first database call

    # The row already says so, and its buttons wait for the server.
    assert 'Acknowledged · saving…' in row_html(user, alert.id)
    assert f'{BUTTONS["resolve"]} data-alert="{alert.id}" disabled>' in row_html(user, alert.id)
    await should_see_row(user, alert.id, 'Acknowledged by Sam Patel')
    assert f'{BUTTONS["resolve"]} data-alert="{alert.id}">' in row_html(user, alert.id)
    assert BUTTONS['acknowledge'] not in row_html(user, alert.id)


# --- rooms: one rendering and one emit per scope -----------------------------------------------------------------

def room_of(user: User) -> Room:
    store = user.find(marker='alert-rows').elements.pop()
    assert isinstance(store, RoomStore)
    return store.room


def room_emits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, object]]]:
    """Record every room event the server sends from now on: (socket.io room, payload)."""
    sent: list[tuple[str, dict[str, object]]] = []
    emit = core.sio.emit

    async def recording(event: str, data: object = None, *args: object, **kwargs: object) -> None:
        if event == EVENT and isinstance(data, dict):
            sent.append((str(kwargs.get('room') or kwargs.get('to')), data))
        await emit(event, data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(core.sio, 'emit', recording)
    return sent


def upserted(payload: dict[str, object]) -> set[int]:
    rows = payload.get('upsert')
    return {row['id'] for row in rows} if isinstance(rows, list) else set()


async def charge_nurse_again_and_a_nurse(user: User, create_user: type[User]) -> tuple[User, User]:
    """Sign `user` in as the charge nurse; return the charge nurse on a second page, and a nurse (a narrower scope)."""
    other = create_user()  # type: ignore[operator]
    nurse = create_user()  # type: ignore[operator]
    await sign_in(user, 'charge')
    await sign_in(other, 'charge')
    await sign_in(nurse, 'nurse')
    return other, nurse


async def test_dashboards_of_one_scope_share_a_room_and_an_alert_goes_to_it_in_one_emit(
        user: User, create_user: type[User], monkeypatch: pytest.MonkeyPatch) -> None:
    other, nurse = await charge_nurse_again_and_a_nurse(user, create_user)
    assert room_of(user) is room_of(other)
    assert room_of(nurse) is not room_of(user)
    sent = room_emits(monkeypatch)

    alert = await raise_for('AMU-02', 'One emit per room', Priority.HIGH)

    for page in (user, other, nurse):
        await should_see_row(page, alert.id, 'One emit per room')
    carried = sorted(room for room, payload in sent if alert.id in upserted(payload))
    assert carried == sorted([room_of(user).name, room_of(nurse).name])  # per room, not per page
    assert row_html(user, alert.id) is room_of(user).rows[alert.id]['html']  # rendered once for the room


async def test_a_nurses_room_is_never_sent_an_alert_of_another_ward(
        user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    await sign_in(user, 'nurse')
    room = room_of(user)
    sent = room_emits(monkeypatch)

    cardiology = await raise_for('CAR-02', 'Cardiology critical', Priority.CRITICAL)
    own = await raise_for('AMU-02', 'On the nurse\'s ward', Priority.LOW)

    await should_see_row(user, own.id)
    to_nurse = [payload for name, payload in sent if name == room.name]
    assert to_nurse and all(cardiology.id not in upserted(p) and 'Cardiology critical' not in str(p) for p in to_nurse)
    assert cardiology.id not in room.alerts
    await should_not_see_row(user, cardiology.id)


def cards_room_of(user: User) -> CardsRoom:
    store = user.find(marker='patient-grid').elements.pop()
    assert isinstance(store, RoomStore) and isinstance(store.room, CardsRoom)
    return store.room


async def record(bed: PatientView, **values: float) -> None:
    """Record readings of one patient now, as a monitor would (through the service of the running server)."""
    vigil, _, _ = running()
    units = {VitalKind.HEART_RATE: '/min', VitalKind.RESP_RATE: '/min'}
    await vigil.patients.record_vitals(await clerk(), [
        VitalReadingIn(patient_mrn=bed.mrn, kind=VitalKind(kind), value=value, unit=units[VitalKind(kind)],
                       measured_at=datetime.now(UTC)) for kind, value in values.items()])


async def test_dashboards_of_one_scope_share_a_cards_room_and_an_update_goes_to_it_in_one_emit(
        user: User, create_user: type[User], monkeypatch: pytest.MonkeyPatch) -> None:
    other, nurse = await charge_nurse_again_and_a_nurse(user, create_user)
    assert cards_room_of(user) is cards_room_of(other)
    assert cards_room_of(nurse) is not cards_room_of(user)
    rooms = {cards_room_of(user).name, cards_room_of(nurse).name}
    bed = await patient('AMU-04')
    sent = room_emits(monkeypatch)

    await record(bed, heart_rate=95)  # NEWS2 1: no alert of its own

    for page in (user, other, nurse):
        await should_see_card(page, bed.id, 'vigil-vital-value">95<', retries=COALESCED_RETRIES)
    carried = sorted(room for room, payload in sent if room in rooms and bed.id in upserted(payload))
    assert carried == sorted(rooms)  # per room, not per page
    assert card_of(user, bed.id) is cards_room_of(user).rows[bed.id]['html']  # rendered once for the room

    sent.clear()
    await raise_for('AMU-04', 'Badge once per room', Priority.HIGH)
    for page in (user, other, nurse):
        await should_see_card(page, bed.id, 'High · 1 open')
    assert sorted(room for room, payload in sent if room in rooms and bed.id in upserted(payload)) == sorted(rooms)


async def test_a_nurses_cards_room_is_never_sent_another_wards_patient(
        user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    await sign_in(user, 'nurse')
    room = cards_room_of(user)
    cardiology, own = await patient('CAR-02'), await patient('AMU-03')
    sent = room_emits(monkeypatch)

    await raise_for('CAR-02', 'Cardiology critical', Priority.CRITICAL)
    await record(cardiology, heart_rate=140)
    await record(own, heart_rate=95)

    await should_see_card(user, own.id, 'vigil-vital-value">95<', retries=COALESCED_RETRIES)
    to_nurse = [payload for name, payload in sent if name == room.name]
    assert to_nurse and all(cardiology.id not in upserted(p) and cardiology.name not in str(p) for p in to_nurse)
    assert cardiology.id not in room.rows and cardiology.id not in room.patients
    assert shown_card(user, cardiology.id) is None


async def test_a_pages_ward_choice_and_order_leave_the_other_pages_of_its_cards_room_alone(
        user: User, create_user: type[User]) -> None:
    other = create_user()  # type: ignore[operator]
    await sign_in(user, 'charge')
    await sign_in(other, 'charge')
    needs = await patient('CAR-03')
    await raise_for('CAR-03', 'Needs someone', Priority.MEDIUM)  # most urgent first: on top
    await eventually(lambda: listed_cards(other)[:1] == [needs.id])
    before = listed_cards(other)
    total = len(before)

    with user:
        user.find(marker='card-order').trigger('change', {'order': 'bed'})
        wards = choices(user, 'card-wards').options('wards')
        cardiology = next(k for k, v in wards.items() if v == 'Cardiology')
        user.find(marker='card-wards').trigger('change', {'wards': cardiology})

    await user.should_see(marker='patient-count', content=f'of {total} in your scope shown')
    beds = {p.id: p.bed for p in await running()[0].patients.list_patients(await clerk())}
    shown = [beds[i] for i in listed_cards(user)]
    assert shown == sorted(shown) and all(bed.startswith('CAR-') for bed in shown)
    assert listed_cards(other) == before  # the other page's order and wards are its own
    await other.should_see(marker='patient-count', content=f'{total} in your scope')
    await other.should_not_see(marker='patient-count', content='shown')
    assert cards_room_of(user) is cards_room_of(other)


async def test_an_action_being_saved_or_refused_shows_only_on_the_page_that_pressed(
        user: User, create_user: type[User]) -> None:
    other = create_user()  # type: ignore[operator]
    await sign_in(user, 'charge')
    await sign_in(other, 'charge')
    first = await raise_for('AMU-07', 'Pain 8/10', Priority.MEDIUM)
    await should_see_row(user, first.id, BUTTONS['acknowledge'])
    await should_see_row(other, first.id, BUTTONS['acknowledge'])

    press(user, 'acknowledge', first.id)
    await asyncio.sleep(0)  # not a wait: lets the click handler run up to its first database call

    assert 'Acknowledged · saving…' in row_html(user, first.id)
    assert 'saving…' not in row_html(other, first.id)
    assert 'saving…' not in room_of(user).rows[first.id]['html']
    await should_see_row(other, first.id, 'Acknowledged by')
    await should_see_row(user, first.id, 'Acknowledged by')

    second = await raise_for('AMU-06', 'Chest pain', Priority.HIGH)
    await should_see_row(other, second.id, BUTTONS['acknowledge'])
    vigil, hub, _ = running()
    hub.stop()  # someone resolves it and the news has not reached these pages yet
    await vigil.alerts.resolve(await clerk(), second.id)
    press(user, 'acknowledge', second.id)

    await should_see_row(user, second.id, 'Not acknowledged: Alert')
    await should_see_row(other, second.id, 'Resolved by ward clerk')  # the state the refusal read, for the room
    assert 'Not acknowledged' not in row_html(other, second.id)
    assert 'Not acknowledged' not in room_of(user).rows[second.id]['html']


async def test_a_filtered_page_counts_what_it_shows_and_other_pages_of_its_room_keep_theirs(
        user: User, create_user: type[User]) -> None:
    other = create_user()  # type: ignore[operator]
    await sign_in(user, 'charge')
    await sign_in(other, 'charge')
    critical = await raise_for('AMU-01', 'Critical one', Priority.CRITICAL)
    high = await raise_for('CAR-03', 'High one', Priority.HIGH)
    await should_see_row(user, high.id)
    await user.should_see(marker='alert-count', content='2 open')

    with user:
        user.find(marker='filter-priority').trigger('change', {'priorities': ['critical']})

    await user.should_see(marker='alert-count', content='1 of 2 open shown')
    assert listed_rows(user) == [critical.id]
    await other.should_see(marker='alert-count', content='2 open')
    await other.should_not_see(marker='alert-count', content='shown')
    assert listed_rows(other) == [critical.id, high.id]
    assert room_of(user) is room_of(other)

    with user:
        user.find(marker='filter-priority').trigger('change', {'priorities': ['low']})
    await user.should_see(marker='alerts-empty', content='No alert matches the filters.')
    await user.should_see(marker='alert-count', content='0 of 2 open shown')
    await other.should_not_see(marker='alerts-empty', content='No alert')


async def test_a_second_dashboard_of_a_scope_reads_no_alerts_and_its_alarm_and_toasts_come_from_the_room(
        user: User, create_user: type[User], monkeypatch: pytest.MonkeyPatch) -> None:
    await sign_in(user, 'charge')
    critical = await raise_for('AMU-03', 'Waiting critical', Priority.CRITICAL)
    await should_see_row(user, critical.id)
    vigil, _, _ = running()
    reads: list[Actor] = []
    list_alerts = vigil.alerts.list_alerts

    async def counted(actor: Actor, *args: object, **kwargs: object) -> list[AlertView]:
        reads.append(actor)
        return await list_alerts(actor, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(vigil.alerts, 'list_alerts', counted)
    other = create_user()  # type: ignore[operator]

    await sign_in(other, 'charge')

    await should_see_row(other, critical.id, 'Waiting critical')
    await other.should_see(marker=TOASTS, content='Waiting critical')  # a waiting critical alert, toasted
    with other:
        carrier = other.find(marker='alarm-state').elements.pop()
    await eventually(lambda: carrier.signals.room.state['waiting'] == 1)  # type: ignore[attr-defined]
    assert reads == []  # the room was loaded already: neither the list nor the alarm read the alerts again


# --- filters --------------------------------------------------------------------------------------------------

async def test_filters_survive_a_reload_and_follow_the_user_to_another_device(
        user: User, create_user: type[User]) -> None:
    await sign_in(user, 'charge')
    critical = await raise_for('AMU-01', 'Critical one', Priority.CRITICAL)
    high = await raise_for('CAR-03', 'High one', Priority.HIGH)
    await should_see_row(user, high.id)

    with user:
        user.find(marker='filter-priority').trigger('change', {'priorities': ['critical']})
    await should_not_see_row(user, high.id)
    await should_see_row(user, critical.id)
    await user.should_see('1 of 2 open shown')

    await user.open('/')
    await should_see_row(user, critical.id)
    await should_not_see_row(user, high.id)
    assert choices(user, 'filter-priority').values['priorities'] == ['critical']

    tablet = create_user()  # type: ignore[operator]
    await sign_in(tablet, 'charge')
    await should_see_row(tablet, critical.id)
    await should_not_see_row(tablet, high.id)


async def test_a_filter_value_that_is_not_one_of_the_choices_is_ignored_and_not_remembered(user: User) -> None:
    await sign_in(user, 'nurse')  # the Acute Medical Unit only
    own = await raise_for('AMU-02', 'On the nurse\'s ward', Priority.HIGH)
    await should_see_row(user, own.id)
    vigil, _, _ = running()
    cardiology = next(w.id for w in await vigil.hospitals.wards_of(own.hospital_id) if w.name == 'Cardiology')

    with user:
        user.find(marker='filter-ward').trigger('change', {'ward': cardiology, 'status': 'anything'})
    await should_see_row(user, own.id)
    assert choices(user, 'filter-ward').values == {'ward': 0, 'priorities': [], 'status': 'open'}
    await user.open('/')
    await should_see_row(user, own.id)
    assert choices(user, 'filter-ward').values['ward'] == 0


async def test_ward_and_status_filters(user: User) -> None:
    await sign_in(user, 'charge')
    amu = await raise_for('AMU-02', 'AMU alert', Priority.HIGH)
    cardiology = await raise_for('CAR-04', 'Cardiology alert', Priority.HIGH)
    await should_see_row(user, cardiology.id)
    vigil, _, _ = running()
    wards = {w.name: w.id for w in await vigil.hospitals.wards_of(amu.hospital_id)}

    with user:
        user.find(marker='filter-ward').trigger('change', {'ward': wards['Cardiology']})
    await should_not_see_row(user, amu.id)
    await should_see_row(user, cardiology.id)

    with user:
        user.find(marker='filter-ward').trigger('change', {'ward': 0})
        user.find(marker='filter-status').trigger('change', {'status': 'acknowledged'})
    await user.should_see('No alert matches the filters.')
    await vigil.alerts.acknowledge(await clerk(), amu.id)
    await should_see_row(user, amu.id, 'Acknowledged by ward clerk')
    await should_not_see_row(user, cardiology.id)


# --- raising by hand ------------------------------------------------------------------------------------------

async def test_a_preset_raises_a_code_blue_that_every_screen_in_scope_shows(
        user: User, create_user: type[User]) -> None:
    doctor = create_user()  # type: ignore[operator]
    await sign_in(user, 'nurse')
    await sign_in(doctor, 'doctor')
    bed = await patient('AMU-08')

    user.find(marker='raise-alert').click()
    await user.should_see(marker='raise-patient')
    with user:
        user.find(marker='raise-patient').elements.pop().set_value(bed.id)  # type: ignore[attr-defined]
    user.find(marker='preset-Code Blue').click()
    await user.should_see(marker='code-blue-send-now')  # a Code Blue can be undone for 5 s (tests/test_ui_offline.py)
    user.find(marker='code-blue-send-now').click()

    await doctor.should_see(marker=TOASTS, content='Critical · AMU-08 Oliver Brennan · Code Blue')
    vigil, _, _ = running()
    [alert] = await vigil.alerts.list_alerts(await clerk())
    assert (alert.priority, alert.message, alert.patient_id, alert.created_by) == \
        (Priority.CRITICAL, 'Code Blue', bed.id, 'Sam Patel (nurse)')
    await should_see_row(doctor, alert.id, 'Raised by Sam Patel')
    await should_see_row(user, alert.id)
    dialog = user.find(marker='raise-dialog').elements.pop()
    await eventually(lambda: not dialog.value)  # type: ignore[attr-defined]


async def test_a_patient_card_raises_an_alert_for_its_patient(user: User) -> None:
    await sign_in(user, 'nurse')
    bed = await patient('AMU-02')

    assert f'data-vigil-raise="{bed.id}"' in card_of(user, bed.id)
    user.find(marker='patient-grid').trigger('click', {'patient': bed.id})
    await user.should_see(marker='raise-message')
    with user:
        assert user.find(marker='raise-patient').elements.pop().value == bed.id  # type: ignore[attr-defined]
        user.find(marker='raise-priority').elements.pop().set_value('low')  # type: ignore[attr-defined]
    user.find(marker='raise-message').type('Wants to see the chaplain')
    user.find(marker='raise-submit').click()

    await user.should_see(marker='alert-count', content='1 open')
    vigil, _, _ = running()
    [alert] = await vigil.alerts.list_alerts(await clerk())
    assert (alert.priority, alert.message, alert.patient_id) == (Priority.LOW, 'Wants to see the chaplain', bed.id)
    await should_see_row(user, alert.id, 'Wants to see the chaplain')


async def test_a_card_opens_the_dialog_for_its_patient_before_the_other_patients_are_read(
        user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tap on a card shows its dialog at once; the list to choose another patient follows when it has been read."""
    await sign_in(user, 'nurse')
    bed = await patient('AMU-02')
    vigil, _, _ = running()
    read = asyncio.Event()
    list_patients = vigil.patients.list_patients

    async def slow_list(actor: Actor) -> list[PatientView]:
        await read.wait()  # a loaded server, a large scope
        return await list_patients(actor)

    monkeypatch.setattr(vigil.patients, 'list_patients', slow_list)
    user.find(marker='patient-grid').trigger('click', {'patient': bed.id})

    await user.should_see(marker='raise-message')
    select = user.find(marker='raise-patient').elements.pop()
    assert select.value == bed.id  # type: ignore[attr-defined]
    assert list(select.options) == [bed.id]  # type: ignore[attr-defined]
    read.set()
    await eventually(lambda: len(select.options) > 1)  # type: ignore[attr-defined]
    assert select.value == bed.id  # type: ignore[attr-defined]


async def test_a_ward_alert_needs_no_patient_and_an_empty_message_is_refused(user: User) -> None:
    await sign_in(user, 'nurse')
    vigil, _, _ = running()
    user.find(marker='raise-alert').click()
    await user.should_see(marker='raise-target')
    with user:
        user.find(marker='raise-target').elements.pop().set_value('ward')  # type: ignore[attr-defined]

    user.find(marker='raise-submit').click()
    await user.should_see('Write what the alert is about (1 to 500 characters).')
    assert await vigil.alerts.list_alerts(await clerk()) == []

    user.find(marker='raise-message').type('Visitor collapsed at the nurses station')
    user.find(marker='raise-submit').click()
    # NOTE: more retries than should_see's three: the row comes through the bus and the room, which two test
    # workers on two cores sometimes delay past 0.3 s.
    await user.should_see(content='Ward alert · Acute Medical Unit', retries=COALESCED_RETRIES)
    [alert] = await vigil.alerts.list_alerts(await clerk())
    assert alert.patient_id is None and alert.ward_name == 'Acute Medical Unit'


# --- patient cards ----------------------------------------------------------------------------------------------

async def test_cards_show_vitals_by_news2_band_missing_ones_as_missing_and_update_in_place(user: User) -> None:
    await sign_in(user, 'nurse')
    bed = await patient('AMU-05')
    client = user.client
    assert client is not None
    elements = set(client.elements)
    card = card_of(user, bed.id)
    assert 'No readings yet' in card and card.count('>missing<') == 6

    vigil, _, _ = running()
    now = datetime.now(UTC)
    readings = [(VitalKind.HEART_RATE, 135, '/min'), (VitalKind.SPO2, 95, '%'), (VitalKind.RESP_RATE, 18, '/min')]
    await vigil.patients.record_vitals(await clerk(), [
        VitalReadingIn(patient_mrn=bed.mrn, kind=kind, value=value, unit=unit, measured_at=now)
        for kind, value, unit in readings])

    await should_see_card(user, bed.id, 'Last reading', retries=COALESCED_RETRIES)
    html = card_of(user, bed.id)

    def cell(label: str, value: str) -> str:
        return f'<span class="vigil-vital-label">{label}</span><span class="vigil-vital-value">{value}</span>'

    assert f'vigil-band-3">{cell("HR /min", "135")}' in html
    # SpO2 waits for its 15 s persistence delay: shown, counted 0 until confirmed, as the alert counts it.
    assert f'vigil-band-0 vigil-vital-pending">{cell("SpO₂ %", "95")}' in html
    assert 'confirming (1)' in html
    assert f'vigil-band-0">{cell("RR /min", "18")}' in html
    for label in ('BP mmHg', 'Temp °C', 'ACVPU'):
        assert f'vigil-vital-missing">{cell(label, "missing")}' in html  # never a 0
    assert 'NEWS2 ≥3' in html  # a lower bound while parameters are missing
    assert 'Observations overdue since' in html  # no full set yet: due from the first reading
    added = [e for i, e in client.elements.items() if i not in elements]
    assert added == [], added  # the card is the room's: the page has no element for it (nor for a toast)


async def test_the_alert_badge_of_a_card_follows_its_patients_open_alerts(user: User) -> None:
    await sign_in(user, 'nurse')
    bed = await patient('AMU-01')
    first = await raise_for('AMU-01', 'Fall risk', Priority.MEDIUM)
    await raise_for('AMU-01', 'Code Blue', Priority.CRITICAL)
    await should_see_card(user, bed.id, 'Critical · 2 open')
    html = card_of(user, bed.id)
    assert 'vigil-chip-critical" title="2 open alerts, the most urgent Critical">Critical · 2 open<' in html
    # Always on the NEWS2 line, whatever the length of the name, so every card reads the same.
    status_line = html.split('class="vigil-card-status"', 1)[1].split('</summary>', 1)[0]
    assert 'NEWS2' in status_line and 'Critical · 2 open' in status_line

    vigil, _, _ = running()
    await vigil.alerts.resolve(await clerk(), first.id)
    await should_see_card(user, bed.id, 'Critical · 1 open<')


# --- metrics, presence, toasts ----------------------------------------------------------------------------------

async def test_metrics_follow_the_alerts_of_the_users_scope(user: User) -> None:
    await sign_in(user, 'nurse')
    await user.should_see(marker='metric-patients', content='data-metric="patients">8<')
    critical = await raise_for('AMU-03', 'Code Blue', Priority.CRITICAL)
    await raise_for('AMU-04', 'Fall', Priority.HIGH)
    await raise_for('CAR-01', 'Not the nurse\'s ward', Priority.CRITICAL)

    await user.should_see(marker='metric-open', content='data-metric="open">2<', retries=METRICS_RETRIES)
    await user.should_see(marker='metric-waiting', content='data-metric="waiting">2<')  # the critical and the high one
    await user.should_see(marker='metric-hour', content='data-metric="hour">2<')
    vigil, _, _ = running()
    await vigil.alerts.acknowledge(await clerk(), critical.id)
    await user.should_see(marker='metric-waiting', content='data-metric="waiting">1<', retries=METRICS_RETRIES)
    await user.should_not_see(marker='metric-ack', content=f'data-metric="ack">{DASH}<')


async def test_presence_lists_the_hospitals_staff_online_live(user: User, create_user: type[User]) -> None:
    doctor, riverside = create_user(), create_user()  # type: ignore[operator]
    await sign_in(user, 'nurse')
    await sign_in(doctor, 'doctor')
    await sign_in(riverside, 'rnurse')

    await user.should_see(marker='presence', content='Dr Robin Asante', retries=COALESCED_RETRIES)
    await user.should_see(marker='presence', content='Physician · hospital-wide')
    await user.should_see(marker='presence', content='Nurse · Acute Medical Unit')
    await user.should_see(marker='metric-staff', content='data-metric="staff">2<')
    await user.should_not_see(marker='presence', content='Kit Fernandes')

    doctor.client.delete()  # the doctor closed the tab
    await user.should_not_see(marker='presence', content='Dr Robin Asante', retries=COALESCED_RETRIES)


def block_room_of(user: User, marker: str) -> BlockRoom:
    store = user.find(marker=marker).elements.pop()
    assert isinstance(store, BlockStore) and isinstance(store.room, BlockRoom)
    return store.room


def block_of(user: User, marker: str) -> str:
    """Return the HTML the page shows in a block (tiles, presence), as the simulated user reads it."""
    return str(user.find(marker=marker).elements.pop()._displayed_contents(only_visible=True)[0])


async def test_dashboards_of_one_scope_share_the_tiles_and_an_alert_repaints_them_in_one_emit(
        user: User, create_user: type[User], monkeypatch: pytest.MonkeyPatch) -> None:
    other, nurse = await charge_nurse_again_and_a_nurse(user, create_user)
    tiles = block_room_of(user, 'metrics')
    assert block_room_of(other, 'metrics') is tiles
    assert block_room_of(nurse, 'metrics') is not tiles
    sent = room_emits(monkeypatch)

    await raise_for('AMU-02', 'Counted once per room', Priority.HIGH)

    for page in (user, other, nurse):
        await page.should_see(marker='metric-open', content='data-metric="open">1<', retries=METRICS_RETRIES)
    counted = [room for room, payload in sent if 'data-metric="open">1<' in str(payload)]
    assert sorted(counted) == sorted([tiles.name, block_room_of(nurse, 'metrics').name])  # per room, not per page
    assert not [e for e in user.client.elements.values() if isinstance(e, ui.html)
                and 'data-metric' in e.content]  # the page holds no tiles of its own


async def test_a_nurses_tiles_never_carry_another_wards_numbers(
        user: User, create_user: type[User], monkeypatch: pytest.MonkeyPatch) -> None:
    doctor = create_user()  # type: ignore[operator]
    await sign_in(user, 'nurse')
    await sign_in(doctor, 'doctor')
    nurse_tiles = block_room_of(user, 'metrics').name
    sent = room_emits(monkeypatch)

    await raise_for('CAR-02', 'Cardiology critical', Priority.CRITICAL)

    await doctor.should_see(marker='metric-open', content='data-metric="open">1<', retries=METRICS_RETRIES)
    await user.should_see(marker='metric-open', content='data-metric="open">0<')
    await raise_for('AMU-03', 'On the nurse\'s ward', Priority.LOW)
    await user.should_see(marker='metric-open', content='data-metric="open">1<', retries=METRICS_RETRIES)
    await doctor.should_see(marker='metric-open', content='data-metric="open">1<')  # a low alert: not the doctor's

    to_nurse = [str(payload) for room, payload in sent if room == nurse_tiles]
    assert any('1 low' in p for p in to_nurse)
    assert not [p for p in to_nurse if '1 critical' in p or '"open">2<' in p]  # the other ward's never reached her


async def test_presence_is_one_block_for_the_hospital_with_each_page_marking_its_own_user(
        user: User, create_user: type[User]) -> None:
    doctor = create_user()  # type: ignore[operator]
    await sign_in(user, 'nurse')
    await sign_in(doctor, 'doctor')
    await user.should_see(marker='presence', content='Dr Robin Asante', retries=COALESCED_RETRIES)
    assert block_room_of(user, 'presence') is block_room_of(doctor, 'presence')

    nurse_sees, doctor_sees = block_of(user, 'presence'), block_of(doctor, 'presence')
    assert nurse_sees.count('(you)') == doctor_sees.count('(you)') == 1
    assert nurse_sees.index('(you)') > nurse_sees.index('Sam Patel')  # the nurse; the doctor comes first by name
    assert doctor_sees.index('(you)') < doctor_sees.index('Sam Patel')
    assert nurse_sees.replace(YOU, '') == doctor_sees.replace(YOU, '')  # otherwise the same
    plain = block_room_of(user, 'presence').html
    assert plain.count('(you)') == 2  # the room's HTML carries it for everyone; each page shows its own user's


async def test_toasts_reach_every_screen_of_the_user_and_critical_ones_stay(
        user: User, create_user: type[User]) -> None:
    phone = create_user()  # type: ignore[operator]
    await sign_in(user, 'nurse')
    await sign_in(phone, 'nurse')

    await raise_for('AMU-02', 'Code Blue', Priority.CRITICAL)
    await raise_for('AMU-03', 'Needs a hand', Priority.MEDIUM)

    for screen in (user, phone):
        await screen.should_see(marker=TOASTS, content='Critical · AMU-02 Marcus Okafor · Code Blue')
        await screen.should_see(marker=TOASTS, content='Medium · AMU-03 Priya Raman · Needs a hand')
    toasts = shown_toasts(user)
    critical = toasts['Critical · AMU-02 Marcus Okafor · Code Blue']['options']
    medium = toasts['Medium · AMU-03 Priya Raman · Needs a hand']['options']
    assert critical['timeout'] == 0 and critical['closeBtn'] == 'Dismiss'  # stays until answered or dismissed
    assert critical['classes'] == 'vigil-toast vigil-toast-critical' and critical['position'] == 'bottom-right'
    assert medium['timeout'] == 10_000 and medium['closeBtn'] is True


async def test_the_alarm_sound_is_on_by_default_and_the_choice_is_remembered(user: User) -> None:
    await sign_in(user, 'nurse')
    await user.should_see('Sound on')

    user.find(marker='sound').click()
    await user.should_see('Sound off')

    await user.open('/')
    await user.should_see('Sound off')


# --- resync, reconnect, clean-up ---------------------------------------------------------------------------------

async def test_a_resync_reloads_what_the_page_missed_from_the_database(user: User) -> None:
    await sign_in(user, 'nurse')
    _, hub, _ = running()
    hub.stop()  # events are lost from here on
    missed = await raise_for('AMU-06', 'Missed while deaf', Priority.HIGH)
    await should_not_see_row(user, missed.id)

    hub.request_resync(missed.hospital_id)

    await should_see_row(user, missed.id)


async def test_a_reconnect_reloads_what_the_page_missed(user: User) -> None:
    await sign_in(user, 'nurse')
    _, hub, _ = running()
    shown = await raise_for('AMU-07', 'Shown live', Priority.HIGH)
    await should_see_row(user, shown.id)
    client = user.client
    assert client is not None
    for handler in client.disconnect_handlers:  # the socket dropped ...
        client.safe_invoke(handler)
    hub.stop()
    vigil, _, _ = running()
    await vigil.alerts.resolve(await clerk(), shown.id)
    missed = await raise_for('AMU-08', 'Raised while offline', Priority.HIGH)

    for handler in client.connect_handlers:  # ... and came back
        client.safe_invoke(handler)

    await should_see_row(user, missed.id)
    await should_not_see_row(user, shown.id)


async def test_a_closed_page_leaves_no_subscription_behind(user: User) -> None:
    vigil, hub, feed = running()
    before = (hub.subscription_count, feed.subscription_count, vigil.bus.subscriber_count)
    await sign_in(user, 'nurse')
    assert hub.subscription_count > before[0] and feed.subscription_count > before[1]
    client = user.client
    assert client is not None

    client.delete()

    assert (hub.subscription_count, feed.subscription_count, vigil.bus.subscriber_count) == before
    hospital_id = (await clerk()).hospital_id
    assert hospital_id is not None and client.id not in {s.client_id for s in hub.sessions(hospital_id)}
