"""The patient page, the audit trail, the wall display and the admin page through NiceGUI's simulated user."""

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from nicegui import Client, ElementFilter, ui
from nicegui import app as nicegui_app
from nicegui.testing import User

from app.bootstrap import Vigil
from app.domain import Priority, Role, TokenKind, VitalKind
from app.domain.vitals import VITAL_SPECS
from app.schemas import Actor, AlertView, NewAlert, VitalReadingIn
from components.live import LiveHub

SIGN_IN_RETRIES = 50


pytestmark = pytest.mark.usefixtures('quiet_demo')


@pytest.fixture(autouse=True)
def browser_zone(quiet_demo: None, user: User) -> None:
    """The simulated browser answers the pages' question for its time zone (after the environment is set)."""
    user.javascript_rules[re.compile('.*resolvedOptions')] = lambda _: 'Europe/Berlin'


def running() -> tuple[Vigil, LiveHub]:
    return nicegui_app.state.vigil, nicegui_app.state.hub


async def staff(username: str) -> Actor:
    """Return a demo account's actor (without spending a password check on it)."""
    vigil, _ = running()
    hospital = await vigil.hospitals.get('riverside' if username == 'rnurse' else 'general')
    lister = Actor(kind='user', hospital_id=hospital.id, name='test', role=Role.ADMIN)
    return Actor.for_user(next(u for u in await vigil.users.list_users(lister) if u.username == username))


async def patient_id(name: str) -> int:
    vigil, _ = running()
    admin = await staff('admin')
    return next(p.id for p in await vigil.patients.list_patients(admin) if p.name == name)


async def raise_for(name: str, message: str, priority: Priority = Priority.HIGH, by: str = 'admin') -> AlertView:
    vigil, _ = running()
    actor = await staff(by)
    return await vigil.alerts.raise_alert(actor, NewAlert(priority=priority, message=message,
                                                          patient_id=await patient_id(name)))


# --- the wall display -----------------------------------------------------------------------------------------------

async def kiosk_token(kind: TokenKind = TokenKind.KIOSK, hospital: str = 'general', name: str = 'AMU corridor') -> str:
    vigil, _ = running()
    return (await vigil.tokens.create(hospital_slug=hospital, kind=kind, name=name)).secret


async def open_display(user: User, secret: str, expected_status: int = 204) -> None:
    response = await user.http_client.post('/kiosk/session', json={'token': secret})
    assert response.status_code == expected_status, response.text
    await user.open('/kiosk/display')


async def test_the_kiosk_shell_is_static_and_never_a_ui_client(user: User) -> None:
    await user.open('/login')  # start the app
    clients_before = set(Client.instances)

    response = await user.http_client.get('/kiosk?token=vgk_whatever')

    assert response.status_code == 200 and response.headers['content-type'].startswith('text/html')
    assert 'X-Nicegui-Content' not in response.headers and 'vgk_whatever' not in response.text
    assert '/kiosk/display' in response.text and '/healthz' in response.text
    assert "This display's token is not valid" in response.text
    assert set(Client.instances) == clients_before


async def test_a_valid_kiosk_token_shows_the_hospitals_open_alerts_by_urgency(user: User) -> None:
    await user.open('/login')
    high = await raise_for('Marcus Okafor', 'Suspected sepsis', Priority.HIGH)
    critical = await raise_for('Priya Raman', 'Code Blue', Priority.CRITICAL)
    vigil, _ = running()
    rnurse = await staff('rnurse')
    riverside = (await vigil.patients.list_patients(rnurse))[0]
    await vigil.alerts.raise_alert(rnurse, NewAlert(priority=Priority.CRITICAL, message='Riverside fall',
                                                    patient_id=riverside.id))

    await open_display(user, await kiosk_token())

    await user.should_see('Vigil General Hospital')
    await user.should_see('Code Blue')
    await user.should_see('Suspected sepsis')
    await user.should_see('1 Critical')
    await user.should_see('Wall display · AMU corridor · read-only')
    await user.should_not_see('Riverside fall')
    rows = [e for e in user.find(marker='kiosk').elements.pop().descendants() if e.props.get('role') == 'listitem']
    assert [r._markers for r in rows] == [[f'kiosk-alert-{critical.id}'], [f'kiosk-alert-{high.id}']]
    # Each row names its alert in its HTML, as the dashboard's rows do.
    assert [re.findall(r'data-alert="(\d+)"', r.props['innerHTML']) for r in rows] == [[str(critical.id)],
                                                                                       [str(high.id)]]


@pytest.mark.parametrize('kind', [TokenKind.DEVICE, TokenKind.INTEGRATION])
async def test_a_token_of_another_kind_opens_no_display(user: User, kind: TokenKind) -> None:
    await user.open('/login')
    await raise_for('Marcus Okafor', 'Suspected sepsis')

    await open_display(user, await kiosk_token(kind), expected_status=401)

    await user.should_see("This display's token is not valid")
    await user.should_not_see('Vigil General Hospital')
    await user.should_not_see('Suspected sepsis')


async def test_an_unknown_or_malformed_token_is_refused(user: User) -> None:
    await user.open('/login')

    for body, status in (({'token': 'vgk_not-a-real-token'}, 401), ({'token': ''}, 422), ({}, 422)):
        response = await user.http_client.post('/kiosk/session', json=body)
        assert response.status_code == status
    await user.open('/kiosk/display')
    await user.should_see("This display's token is not valid")


async def test_a_revoked_token_opens_no_display_and_stops_an_open_one(user: User, create_user: object) -> None:
    await user.open('/login')
    vigil, hub = running()
    await raise_for('Marcus Okafor', 'Suspected sepsis')
    secret = await kiosk_token()
    await open_display(user, secret)
    await user.should_see('Suspected sepsis')

    await vigil.tokens.revoke(hospital_slug='general', name='AMU corridor')
    hub.tick()  # the shared slow tick makes every open display re-check its token

    await user.should_see("This display's token is not valid")
    await user.should_not_see('Suspected sepsis')
    response = await user.http_client.post('/kiosk/session', json={'token': secret})
    assert response.status_code == 401


async def test_the_display_follows_new_alerts_acknowledgements_and_resolutions(user: User) -> None:
    await user.open('/login')
    vigil, _ = running()
    await open_display(user, await kiosk_token())
    await user.should_see('No open alerts')

    alert = await raise_for('Marcus Okafor', 'Patient fall', Priority.CRITICAL)
    await user.should_see('Patient fall')
    await user.should_see('Not acknowledged')
    await user.should_not_see('No open alerts')

    await vigil.alerts.acknowledge(await staff('charge'), alert.id)
    await user.should_see('Acknowledged · Jordan Ellis (charge)')

    await vigil.alerts.resolve(await staff('charge'), alert.id)
    await user.should_not_see('Patient fall')
    await user.should_see('No open alerts')


async def integration(name: str = 'Nurse call system') -> Actor:
    vigil, _ = running()
    return await vigil.tokens.verify(await kiosk_token(TokenKind.INTEGRATION, name=name))


async def acknowledged_through_nurse_call(patient: str, message: str, note: str | None = None) -> AlertView:
    """Raise an alert as the nurse call system and acknowledge it there on behalf of Jordan Ellis."""
    vigil, _ = running()
    nurse_call = await integration()
    alert = await vigil.alerts.raise_alert(nurse_call, NewAlert(priority=Priority.HIGH, message=message,
                                                                patient_id=await patient_id(patient)))
    return await vigil.alerts.acknowledge(nurse_call, alert.id, on_behalf_of='Jordan Ellis', note=note)


async def test_the_display_names_who_acknowledged_as_people_read_it(user: User) -> None:
    await user.open('/login')
    alert = await acknowledged_through_nurse_call('Priya Raman', 'Patient fall beside the bed, head wound')

    await open_display(user, await kiosk_token())

    await user.should_see('Acknowledged · Jordan Ellis (via Nurse call system)')
    row = str(user.find(marker=f'kiosk-alert-{alert.id}').elements.pop().content)  # type: ignore[attr-defined]
    assert 'token:' not in row
    # Bed and patient stay together in their own span: the ward and the status give way before them.
    assert '<span class="vigil-kiosk-patient">AMU-03 · Priya Raman</span>' in row


async def test_the_display_reloads_the_database_state_when_it_reconnects(user: User) -> None:
    await user.open('/login')
    _, hub = running()
    await open_display(user, await kiosk_token())
    await user.should_see('No open alerts')
    # An alert whose event this page never got (as after a network blip): the resync reloads from the database.
    hub.stop()
    await raise_for('Marcus Okafor', 'Missed while away')
    hub.start()
    await user.should_not_see('Missed while away')

    hub.request_resync()

    await user.should_see('Missed while away')


# --- signed-in pages ------------------------------------------------------------------------------------------------

async def sign_in(user: User, username: str, target: str) -> None:
    """Sign in through the login page, which then opens target (wait for it with should_see)."""
    await user.open(f'/login?next={target}')
    user.find(kind=ui.input, content='Username').type(username)
    user.find(kind=ui.input, content='Password').type('demo')
    user.find(kind=ui.button, content='Log in').click()


async def record(name: str, at: datetime | None = None, **values: float) -> None:
    vigil, hub = running()
    monitor = Actor(kind='system', hospital_id=(await staff('admin')).hospital_id, name='monitor')
    mrn = next(p.mrn for p in await vigil.patients.list_patients(await staff('admin')) if p.name == name)
    when = at or vigil.clock()
    await vigil.patients.record_vitals(monitor, [
        VitalReadingIn(patient_mrn=mrn, kind=VitalKind(kind), value=value, unit=VITAL_SPECS[VitalKind(kind)].unit,
                       measured_at=when) for kind, value in values.items()])
    await vigil.bus.drain()
    hub.flush_vitals()


# --- the patient page -----------------------------------------------------------------------------------------------

def chart_values(user: User, series: int) -> list[float]:
    chart = user.find(marker='vitals-chart').elements.pop()
    return [point[1] for point in chart.options['series'][series]['data']]  # type: ignore[attr-defined]


async def test_the_patient_page_shows_vitals_trends_and_alert_history(user: User) -> None:
    await user.open('/login')
    vigil, _ = running()
    now = vigil.clock()
    await record('Marcus Okafor', now - timedelta(minutes=30), heart_rate=82, spo2=97, resp_rate=16)
    await record('Marcus Okafor', now - timedelta(minutes=1), heart_rate=95, spo2=93, resp_rate=22,
                 systolic_bp=118, diastolic_bp=76, temperature=37.9, consciousness=0, on_oxygen=0)
    await record('Marcus Okafor', now - timedelta(seconds=40), spo2=93)  # SpO2 93 lasted its 15 s delay: it counts
    alert = await raise_for('Marcus Okafor', 'Suspected sepsis', by='nurse')
    await vigil.alerts.acknowledge(await staff('charge'), alert.id, note='doctor informed')
    patient = await patient_id('Marcus Okafor')

    await sign_in(user, 'nurse', f'/patients/{patient}')

    await user.should_see(marker='patient-name', retries=SIGN_IN_RETRIES)
    await user.should_see('Marcus Okafor')
    await user.should_see('Bed AMU-02 · Acute Medical Unit · MRN G100102')
    await user.should_see('NEWS2 5')  # heart rate 95: 1, SpO2 93 %: 2, respiratory rate 22: 2
    await user.should_see('Medium risk')
    # The breakdown is the same text an alert's headline would carry.
    await user.should_see('NEWS2 5 (medium risk, urgent response): respiratory rate 22 /min (2), SpO2 93 % (2), '
                          'heart rate 95 /min (1)')
    await user.should_see('Suspected sepsis')
    await user.should_see('doctor informed')
    assert chart_values(user, 0) == [82, 95]  # heart rate, one bucket each
    assert max(chart_values(user, 6)) == 5  # NEWS2 over time


async def test_the_patient_page_follows_new_readings_and_alerts_live(user: User) -> None:
    await user.open('/login')
    vigil, _ = running()
    patient = await patient_id('Marcus Okafor')
    await sign_in(user, 'nurse', f'/patients/{patient}')
    await user.should_see('No readings yet', retries=SIGN_IN_RETRIES)
    await user.should_see('No alerts for this patient yet.')

    await record('Marcus Okafor', heart_rate=131)

    await user.should_see('131')
    await user.should_not_see('No readings yet')
    assert chart_values(user, 0) == [131]
    alert = await raise_for('Marcus Okafor', 'Patient fall', Priority.HIGH, by='charge')
    await user.should_see('Patient fall')
    await user.should_not_see('No alerts for this patient yet.')
    await vigil.alerts.resolve(await staff('charge'), alert.id, note='no injury found')
    await user.should_see('no injury found')


async def test_the_patient_history_names_people_and_leaves_out_notes_that_repeat_the_message(user: User) -> None:
    await user.open('/login')
    alert = await acknowledged_through_nurse_call('Marcus Okafor', 'Suspected sepsis', note='doctor informed')
    patient = await patient_id('Marcus Okafor')

    await sign_in(user, 'nurse', f'/patients/{patient}')

    await user.should_see(marker=f'history-{alert.id}', retries=SIGN_IN_RETRIES)
    history = str(user.find(marker=f'history-{alert.id}').elements.pop().content)  # type: ignore[attr-defined]
    assert 'Jordan Ellis (via Nurse call system)' in history and 'token:' not in history
    assert 'doctor informed' in history
    assert history.count('Suspected sepsis') == 1  # the message heads the alert; the raise's note repeats it


def axis_start(user: User) -> datetime:
    chart = user.find(marker='vitals-chart').elements.pop()
    return datetime.fromtimestamp(chart.options['xAxis'][0]['min'] / 1000, UTC)  # type: ignore[attr-defined]


async def test_the_trend_window_fits_the_data_and_the_user_can_choose_hours(user: User) -> None:
    await user.open('/login')
    vigil, _ = running()
    now = vigil.clock()
    await record('Marcus Okafor', now - timedelta(minutes=20), heart_rate=82)
    await record('Marcus Okafor', now - timedelta(minutes=1), heart_rate=95)
    patient = await patient_id('Marcus Okafor')

    await sign_in(user, 'nurse', f'/patients/{patient}')

    await user.should_see('to now', retries=SIGN_IN_RETRIES)  # "From 07:39 to now": fitted to the readings
    # 20 minutes of readings and a 5 % lead: the chart starts 21 minutes back, not 6 hours.
    assert abs(axis_start(user) - (now - timedelta(minutes=21))) < timedelta(seconds=30)
    assert chart_values(user, 0) == [82, 95]

    with user:
        user.find(marker='trend-window').elements.pop().set_value(6)  # type: ignore[attr-defined]
    await user.should_see('Last 6 h')
    assert abs(axis_start(user) - (vigil.clock() - timedelta(hours=6))) < timedelta(seconds=30)
    assert chart_values(user, 0) == [82, 95]


async def test_raising_an_alert_from_the_patient_page(user: User) -> None:
    await user.open('/login')
    vigil, _ = running()
    patient = await patient_id('Marcus Okafor')
    await sign_in(user, 'nurse', f'/patients/{patient}')
    await user.should_see(marker='raise-alert', retries=SIGN_IN_RETRIES)

    user.find(marker='raise-alert').click()
    await user.should_see(marker='preset-Code Blue')
    user.find(marker='preset-Code Blue').click()
    await user.should_see(marker='code-blue-send-now')  # a Code Blue can be undone for 5 s (tests/test_ui_offline.py)
    user.find(marker='code-blue-send-now').click()

    await user.should_see(kind=ui.html, content='Code Blue')  # in the patient's alert history
    alerts = await vigil.alerts.list_alerts(await staff('admin'))
    assert [(a.patient_id, a.message, a.priority) for a in alerts] == [(patient, 'Code Blue', Priority.CRITICAL)]


async def test_a_nurse_cannot_open_a_patient_of_another_ward(user: User) -> None:
    await user.open('/login')
    await raise_for('Ingrid Solberg', 'Chest pain')  # Cardiology
    patient = await patient_id('Ingrid Solberg')

    await sign_in(user, 'nurse', f'/patients/{patient}')

    await user.should_see('This patient is not on your wards', retries=SIGN_IN_RETRIES)
    await user.should_not_see('Ingrid Solberg')
    await user.should_not_see('Chest pain')


@pytest.mark.parametrize('target', ['riverside', '999999', 'abc'])
async def test_another_hospitals_patient_looks_like_no_patient(user: User, target: str) -> None:
    await user.open('/login')
    vigil, _ = running()
    if target == 'riverside':
        target = str((await vigil.patients.list_patients(await staff('rnurse')))[0].id)

    await sign_in(user, 'admin', f'/patients/{target}')

    await user.should_see('Patient not found', retries=SIGN_IN_RETRIES)
    await user.should_see('Vigil General Hospital has no patient with this number.')
    await user.should_not_see(marker='patient-name')


# --- the audit trail ------------------------------------------------------------------------------------------------

def table(user: User) -> str:
    return str(user.find(marker='audit-table').elements.pop().content)  # type: ignore[attr-defined]


def entries(user: User) -> list[tuple[str, str, str]]:
    """Return (what, who, alert message) of each row on the page, top to bottom."""
    pattern = re.compile(r'vigil-audit-event">([^<]+)<.*?</td><td>([^<]*)</td>.*?</span> ([^<]*)<span', re.S)
    return pattern.findall(table(user))


async def test_the_audit_trail_lists_who_did_what_newest_first(user: User) -> None:
    await user.open('/login')
    vigil, _ = running()
    fall = await raise_for('Marcus Okafor', 'Patient fall', by='nurse')
    await vigil.alerts.acknowledge(await staff('charge'), fall.id, note='on my way')
    await raise_for('Ingrid Solberg', 'Chest pain', Priority.MEDIUM, by='charge')  # Cardiology

    await sign_in(user, 'admin', '/audit')

    await user.should_see('3 entries', retries=SIGN_IN_RETRIES)
    # The trail keeps who it was as the record names them: display name and username.
    assert entries(user) == [('Raised', 'Jordan Ellis (charge)', 'Chest pain'),
                             ('Acknowledged', 'Jordan Ellis (charge)', 'Patient fall'),
                             ('Raised', 'Sam Patel (nurse)', 'Patient fall')]
    assert 'on my way' in table(user) and 'active → acknowledged' in table(user)


def notes(user: User) -> list[str]:
    """Return the Note cell of each row on the page, top to bottom."""
    return re.findall(r'<td>([^<]*)</td></tr>', table(user))


async def test_the_audit_trail_names_tokens_as_people_read_them_and_shows_notes_that_add_something(
        user: User) -> None:
    await user.open('/login')
    await acknowledged_through_nurse_call('Marcus Okafor', 'Patient fall', note='on my way')

    await sign_in(user, 'admin', '/audit')

    await user.should_see('2 entries', retries=SIGN_IN_RETRIES)
    assert entries(user) == [('Acknowledged', 'Jordan Ellis (via Nurse call system)', 'Patient fall'),
                             ('Raised', 'Nurse call system', 'Patient fall')]
    assert notes(user) == ['on my way', '']  # the raise's note only repeats the message
    assert 'token:' not in table(user)


async def test_a_nurse_reads_only_her_wards_trail(user: User) -> None:
    await user.open('/login')
    await raise_for('Marcus Okafor', 'Patient fall')
    await raise_for('Ingrid Solberg', 'Chest pain', Priority.MEDIUM)  # Cardiology

    await sign_in(user, 'nurse', '/audit')

    await user.should_see('1 entry', retries=SIGN_IN_RETRIES)
    assert 'Patient fall' in table(user) and 'Chest pain' not in table(user)


async def test_search_filters_and_pages_through_the_trail(user: User) -> None:
    await user.open('/login')
    vigil, _ = running()
    charge = await staff('charge')
    for number in range(30):
        alert = await raise_for('Marcus Okafor', f'Call bell {number:02d}', Priority.LOW, by='nurse')
        await vigil.alerts.acknowledge(charge, alert.id)
    await raise_for('Priya Raman', 'Suspected sepsis')
    await sign_in(user, 'admin', '/audit')
    await user.should_see('61 entries', retries=SIGN_IN_RETRIES)
    await user.should_see('Page 1 of 2')
    assert 'Suspected sepsis' in table(user) and 'Call bell 03' not in table(user)

    user.find(marker='audit-older').click()
    await user.should_see('Page 2 of 2')
    assert 'Call bell 03' in table(user) and 'Suspected sepsis' not in table(user)

    user.find(marker='audit-text').type('raman').trigger('keydown.enter')
    await user.should_see('1 entry')  # the patient's name, any case
    await user.should_see('Page 1 of 1')
    assert 'Suspected sepsis' in table(user) and 'Call bell' not in table(user)

    user.find(marker='audit-text').clear().type('bell 07').trigger('keydown.enter')
    await user.should_see('2 entries')
    with user:
        user.find(marker='audit-types').elements.pop().set_value(['acknowledged'])
    await user.should_see('1 entry')
    assert 'Call bell 07' in table(user) and 'Raised' not in table(user)


async def test_the_audit_page_offers_new_entries_of_its_scope_only(user: User) -> None:
    await user.open('/login')
    await raise_for('Marcus Okafor', 'Patient fall')
    await sign_in(user, 'nurse', '/audit')
    await user.should_see('1 entry', retries=SIGN_IN_RETRIES)
    with user:
        fresh = next(iter(ElementFilter(marker='audit-fresh')))

    await raise_for('Ingrid Solberg', 'Chest pain', Priority.MEDIUM)  # Cardiology: not hers
    vigil, _ = running()
    await vigil.bus.drain()
    assert not fresh.visible
    await raise_for('Priya Raman', 'Suspected sepsis')  # her ward
    await user.should_see(marker='audit-fresh')

    user.find(marker='audit-fresh').click()
    await user.should_see('2 entries')
    assert 'Chest pain' not in table(user)


async def test_a_reversed_date_range_gets_a_clear_message(user: User) -> None:
    await user.open('/login')
    await raise_for('Marcus Okafor', 'Patient fall')
    await sign_in(user, 'admin', '/audit')
    await user.should_see('1 entry', retries=SIGN_IN_RETRIES)

    user.find(marker='audit-from').type('2026-03-05')
    user.find(marker='audit-to').type('2026-03-01')
    user.find(marker='audit-search').click()

    await user.should_see('The start of the date range must be before its end.')
    assert 'Patient fall' in table(user)  # the last good result stays


async def test_dates_are_picked_as_iso_days(user: User) -> None:
    await user.open('/login')
    await raise_for('Marcus Okafor', 'Patient fall')
    await sign_in(user, 'admin', '/audit')
    await user.should_see('1 entry', retries=SIGN_IN_RETRIES)
    vigil, _ = running()
    tomorrow = (vigil.clock() + timedelta(days=1)).date().isoformat()

    picker = user.find(marker='audit-from-picker').elements.pop()
    assert picker.props['mask'] == 'YYYY-MM-DD'
    with user:
        picker.set_value(tomorrow)  # type: ignore[attr-defined]
    assert user.find(marker='audit-from').elements.pop().value == tomorrow  # type: ignore[attr-defined]
    user.find(marker='audit-search').click()

    await user.should_see('No entries match.')


async def test_the_csv_export_holds_the_filtered_trail_with_formulas_defused(user: User) -> None:
    await user.open('/login')
    await raise_for('Marcus Okafor', '=HYPERLINK("http://evil.example","help")', by='nurse')
    await raise_for('Marcus Okafor', 'Patient fall, "unwitnessed"', by='nurse')
    await raise_for('Priya Raman', 'Suspected sepsis', by='charge')
    await sign_in(user, 'admin', '/audit')
    await user.should_see('3 entries', retries=SIGN_IN_RETRIES)
    user.find(marker='audit-text').type('okafor').trigger('keydown.enter')
    await user.should_see('2 entries')

    user.find(marker='audit-export').click()
    response = await user.download.next()

    rows = list(csv.reader(io.StringIO(response.content.decode('utf-8-sig'), newline='')))
    assert rows[0][:3] == ['Time', 'Event', 'By'] and rows[0][-1] == 'Recorded actor'
    assert [(r[1], r[2], r[10], r[12]) for r in rows[1:]] == [
        ('raised', 'Sam Patel (nurse)', 'Patient fall, "unwitnessed"', 'Marcus Okafor'),
        ('raised', 'Sam Patel (nurse)', '\'=HYPERLINK("http://evil.example","help")', 'Marcus Okafor'),
    ]
    assert rows[1][0].endswith('+01:00')  # the reader's time zone (Berlin in March), with its offset


# --- the admin page -------------------------------------------------------------------------------------------------

async def heart_rate_limit() -> tuple[float | None, float | None, int, bool]:
    vigil, _ = running()
    limit = next(lim for lim in (await vigil.rules.get(await staff('admin'))).limits if lim.parameter == 'heart_rate')
    return limit.low, limit.high, limit.persistence_seconds, limit.is_default


async def test_the_admin_page_lists_staff_tokens_and_rules(user: User) -> None:
    await user.open('/login')
    created = await kiosk_token(TokenKind.DEVICE, name='AMU monitor gateway')

    await sign_in(user, 'admin', '/admin')

    await user.should_see('Critical limits', retries=SIGN_IN_RETRIES)
    users = str(user.find(marker='admin-users').elements.pop().content)  # type: ignore[attr-defined]
    assert all(name in users for name in ('Sam Patel', 'Jordan Ellis', 'Dr Robin Asante', 'Charge nurse'))
    assert 'Kit Fernandes' not in users  # another hospital's nurse
    tokens = str(user.find(marker='admin-tokens').elements.pop().content)  # type: ignore[attr-defined]
    assert 'AMU monitor gateway' in tokens and created[:10] in tokens and created not in tokens
    assert user.find(marker='limit-heart_rate-low').elements.pop().value == 40  # type: ignore[attr-defined]
    assert user.find(marker='escalation-critical-minutes').elements.pop().value == '2, 5'  # type: ignore[attr-defined]


async def test_an_admin_changes_a_critical_limit(user: User) -> None:
    await sign_in(user, 'admin', '/admin')
    await user.should_see(marker='limit-heart_rate-low', retries=SIGN_IN_RETRIES)

    user.find(marker='limit-heart_rate-low').clear().type('45')
    user.find(marker='limit-heart_rate-seconds').clear().type('10')
    user.find(marker='limit-heart_rate-save').click()

    await user.should_see('Saved the limits of heart rate.')
    assert await heart_rate_limit() == (45, 131, 10, False)
    await user.should_see('set by Alex Morgan (admin)')


async def test_the_admin_page_shows_who_changed_the_rules(user: User) -> None:
    await sign_in(user, 'admin', '/admin')
    await user.should_see('The alarm rules have not been changed', retries=SIGN_IN_RETRIES)

    user.find(marker='limit-heart_rate-low').clear().type('45')
    user.find(marker='limit-heart_rate-save').click()
    await user.should_see('Saved the limits of heart rate.')
    user.find('Refresh').click()

    await user.should_see('heart_rate limits set to low 45')
    changes = str(user.find(marker='admin-rule-changes').elements.pop().content)  # type: ignore[attr-defined]
    assert 'admin' in changes and 'heart_rate limits set to low 45' in changes


async def consciousness_limit() -> tuple[float | None, float | None, bool]:
    vigil, _ = running()
    rules = await vigil.rules.get(await staff('admin'))
    limit = next(lim for lim in rules.limits if lim.parameter == 'consciousness')
    return limit.low, limit.high, limit.is_default


async def test_the_consciousness_limit_is_chosen_by_its_acvpu_level(user: User) -> None:
    await sign_in(user, 'admin', '/admin')
    await user.should_see(marker='limit-consciousness-high', retries=SIGN_IN_RETRIES)
    await user.should_not_see(marker='limit-consciousness-low')  # Alert is the lowest level: no low limit
    level = user.find(marker='limit-consciousness-high').elements.pop()
    assert level.options == {  # type: ignore[attr-defined]
        1: 'C (new confusion) or worse', 2: 'V (responds to voice) or worse', 3: 'P (responds to pain) or worse',
        4: 'U (unresponsive)'}
    assert level.value == 1  # type: ignore[attr-defined]

    user.find(marker='limit-consciousness-high').click()
    user.find('P (responds to pain) or worse').click()
    user.find(marker='limit-consciousness-save').click()

    await user.should_see('Saved the limits of consciousness.')
    assert await consciousness_limit() == (None, 3, False)


@pytest.mark.parametrize('field, text, error', [
    ('low', '140', 'The low limit of heart rate (140) must be below the high limit (131).'),
    ('low', '131', 'The low limit of heart rate (131) must be below the high limit (131).'),
    ('high', '900', 'The high limit of heart rate must lie within 0-350 /min, not 900.'),
    ('seconds', '', 'Enter the delay in seconds (0 for none) as a whole number.'),
    ('seconds', '2.5', 'Enter the delay in seconds (0 for none) as a whole number.'),
    ('seconds', '3600', 'A persistence delay lasts 0-300 seconds, not 3600.'),
    ('readings', '0', 'A persistence delay counts 1-20 consecutive readings, not 0.'),
])
async def test_a_bad_limit_is_refused_with_a_clear_message_and_nothing_changes(
        user: User, field: str, text: str, error: str) -> None:
    await sign_in(user, 'admin', '/admin')
    await user.should_see(marker='limit-heart_rate-low', retries=SIGN_IN_RETRIES)

    typed = user.find(marker=f'limit-heart_rate-{field}').clear()
    if text:
        typed.type(text)
    user.find(marker='limit-heart_rate-save').click()

    await user.should_see(error)
    assert await heart_rate_limit() == (40, 131, 0, True)


@pytest.mark.parametrize('text, error', [
    ('5, 2', 'Escalation steps must increase strictly'),
    ('two', 'Write whole minutes separated by commas'),
    ('', 'Critical alerts must escalate at least once'),
])
async def test_bad_escalation_steps_are_refused_and_nothing_changes(user: User, text: str, error: str) -> None:
    await sign_in(user, 'admin', '/admin')
    await user.should_see(marker='escalation-critical-minutes', retries=SIGN_IN_RETRIES)
    vigil, _ = running()

    user.find(marker='escalation-critical-minutes').clear().type(text)
    user.find(marker='escalation-critical-save').click()

    await user.should_see(error)
    steps = next(s for s in (await vigil.rules.get(await staff('admin'))).escalation if s.priority is Priority.CRITICAL)
    assert (steps.minutes, steps.is_default) == ((2, 5), True)


async def test_an_admin_changes_escalation_and_the_device_heartbeat(user: User) -> None:
    await sign_in(user, 'admin', '/admin')
    await user.should_see(marker='escalation-medium-minutes', retries=SIGN_IN_RETRIES)
    vigil, _ = running()

    user.find(marker='escalation-medium-minutes').clear().type('10, 30')
    user.find(marker='escalation-medium-save').click()
    await user.should_see('Saved the escalation of medium alerts.')
    user.find(marker='device-silence').clear().type('10')
    user.find(marker='device-silence-save').click()
    await user.should_see('A device counts as silent after 30-86400 seconds, not 10.')

    rules = await vigil.rules.get(await staff('admin'))
    assert next(s.minutes for s in rules.escalation if s.priority is Priority.MEDIUM) == (10, 30)
    assert rules.device_silence_seconds == 120


@pytest.mark.parametrize('username', ['nurse', 'charge', 'doctor'])
async def test_only_administrators_open_the_admin_page(user: User, username: str) -> None:
    await sign_in(user, username, '/admin')

    await user.should_see('Administrators only', retries=SIGN_IN_RETRIES)
    await user.should_not_see('Critical limits')
    await user.should_not_see(marker='admin-users')


async def test_closed_pages_leave_no_subscription_behind(user: User) -> None:
    await user.open('/login')
    _, hub = running()
    before = hub.subscription_count
    secret = await kiosk_token()
    patient = await patient_id('Marcus Okafor')
    await sign_in(user, 'admin', f'/patients/{patient}')
    await user.should_see(marker='patient-name', retries=SIGN_IN_RETRIES)
    pages = [user.client]
    await user.open('/audit')
    pages.append(user.client)
    await open_display(user, secret)
    pages.append(user.client)
    assert hub.subscription_count > before

    for client in pages:
        assert client is not None
        client.delete()

    assert hub.subscription_count == before


# --- the admin page: observations and data age ----------------------------------------------------------------------

async def test_an_admin_changes_the_observation_grace_period_and_the_history_lists_it(user: User) -> None:
    await sign_in(user, 'admin', '/admin')
    await user.should_see(marker='observation-grace', retries=SIGN_IN_RETRIES)
    vigil, _ = running()
    grace = user.find(marker='observation-grace').elements.pop()
    assert (grace.value, grace.props['hint']) == (30, 'default')  # type: ignore[attr-defined]
    await user.should_see('A reading measured more than 24 h before it arrives is kept as history only')

    user.find(marker='observation-grace').clear().type('45')
    user.find(marker='observations-save').click()

    await user.should_see('Saved the observation settings.')
    assert (grace.value, grace.props['hint']) == (45, 'own · default 30 min')  # type: ignore[attr-defined]
    assert (await vigil.rules.rules((await staff('admin')).hospital_id or 0)).observation_grace_minutes == 45
    user.find('Refresh').click()
    await user.should_see('observation_grace_minutes 30')
    changes = html.unescape(str(user.find(marker='admin-rule-changes').elements.pop().content))  # type: ignore[attr-defined]
    assert 'admin' in changes and 'observation_grace_minutes 30 -> 45' in changes


async def test_an_admin_sets_and_empties_a_news2_maximum_age(user: User) -> None:
    await sign_in(user, 'admin', '/admin')
    await user.should_see(marker='news2-max-age-spo2', retries=SIGN_IN_RETRIES)
    vigil, _ = running()
    spo2 = user.find(marker='news2-max-age-spo2').elements.pop()

    user.find(marker='news2-max-age-spo2').clear().type('60')
    user.find(marker='observation-minutes-urgent').clear().type('30')
    user.find(marker='observations-save').click()
    await user.should_see('Saved the observation settings.')
    assert (spo2.value, spo2.props['hint']) == (60, 'own · default 780 min')  # type: ignore[attr-defined]
    user.notify.messages.clear()
    user.find(marker='news2-max-age-spo2').clear()  # emptied: back to the default
    user.find(marker='observations-save').click()

    await user.should_see('Saved the observation settings.')
    rules = await vigil.rules.get(await staff('admin'))
    assert next(a for a in rules.news2_max_age_minutes if a.parameter is VitalKind.SPO2).is_default
    assert (spo2.value, spo2.props['hint']) == (780, 'default')  # type: ignore[attr-defined]
    assert [(i.minutes, i.is_default) for i in rules.observation_minutes] == [(720, True), (240, True), (30, False),
                                                                             (15, True)]


@pytest.mark.parametrize('marker, text, error', [
    ('observation-grace', '0', 'The grace period before observations count as overdue must be whole minutes from 5 to '
                               '240, not 0.'),
    ('observation-grace', '', 'Enter the grace period in minutes as a whole number.'),
    ('stale-reading-hours', '200', 'must be whole hours from 1 to 168, not 200.'),
    ('news2-max-age-resp_rate', '2.5', 'Enter the maximum age of "Respiratory rate" in minutes as a whole number.'),
    ('news2-max-age-resp_rate', '3000', 'The maximum age of resp_rate must be whole minutes from 5 to 2880, not 3000.'),
    ('observation-minutes-urgent', '300', 'Band "urgent" (300 min) cannot be observed less often than band "low" '
                                          '(240 min).'),
])
async def test_a_refused_observation_setting_is_shown_and_nothing_changes(
        user: User, marker: str, text: str, error: str) -> None:
    await sign_in(user, 'admin', '/admin')
    await user.should_see(marker=marker, retries=SIGN_IN_RETRIES)
    vigil, _ = running()
    before = await vigil.rules.get(await staff('admin'))

    user.find(marker='observation-grace').clear().type('60')  # a good change with the bad one: not saved either
    typed = user.find(marker=marker).clear()
    if text:
        typed.type(text)
    user.find(marker='observations-save').click()

    await user.should_see(error)
    assert str(user.find(marker='observations-error').elements.pop().text).endswith(error)  # type: ignore[attr-defined]
    assert await vigil.rules.get(await staff('admin')) == before
