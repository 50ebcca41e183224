"""The hospital's audit trail: search, pages, role scope, CSV export, and a patient's alert history."""

import csv
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from app.bootstrap import Vigil
from app.domain import AlertEventType, Priority, TokenKind
from app.domain.actors import display_actor
from app.domain.scope import AccessScope
from app.errors import InvalidInput, NotAllowed, PatientNotFound
from app.schemas import Actor, AlertFilter, AlertView, NewAlert
from app.services.audit import AuditQuery
from app.services.audit_csv import HEADER, audit_csv, safe_cell
from data.models import Alert

from .conftest import FakeClock, World


async def raise_alert(vigil: Vigil, world: World, bed: str, message: str, *, side: str = 'a',
                      priority: Priority = Priority.HIGH, by: str = 'admin') -> AlertView:
    hospital = world.a if side == 'a' else world.b
    return await vigil.alerts.raise_alert(hospital.actor(by), NewAlert(
        priority=priority, message=message, patient_id=hospital.patient_ids[bed]))


@pytest.fixture
async def story(vigil: Vigil, world: World, clock: FakeClock) -> dict[str, AlertView]:
    """North: a fall, acknowledged and resolved; South: a medium alert and a high one that escalated; B: one."""
    fall = await raise_alert(vigil, world, 'North-1', 'Patient fall', by='nurse')
    clock.advance(minutes=1)
    await vigil.alerts.acknowledge(world.a.actor('nurse'), fall.id, note='on my way')
    clock.advance(minutes=1)
    await vigil.alerts.resolve(world.a.actor('charge'), fall.id, note='back in bed, no injury')
    clock.advance(minutes=1)
    pain = await raise_alert(vigil, world, 'South-1', 'Pain score 8', priority=Priority.MEDIUM, by='nurse2')
    clock.advance(minutes=1)
    sepsis = await raise_alert(vigil, world, 'South-2', 'Suspected sepsis', by='nurse2')
    clock.advance(minutes=1)
    await vigil.alerts.escalate(world.a.actor('nurse2'), sepsis.id, note='no answer from the ward team')
    clock.advance(minutes=1)
    other = await raise_alert(vigil, world, 'East-1', 'Patient fall', side='b')
    return {'fall': fall, 'pain': pain, 'sepsis': sepsis, 'other': other}


def trail(page_rows: object) -> list[tuple[str, str]]:
    return [(row.message, row.type.value) for row in page_rows]  # type: ignore[attr-defined]


async def test_the_trail_lists_every_step_newest_first_with_its_context(
        vigil: Vigil, world: World, story: dict[str, AlertView]) -> None:
    page = await vigil.audit.search(world.a.actor('admin'), AuditQuery())

    assert trail(page.rows) == [
        ('Suspected sepsis', 'escalated'), ('Suspected sepsis', 'raised'), ('Pain score 8', 'raised'),
        ('Patient fall', 'resolved'), ('Patient fall', 'acknowledged'), ('Patient fall', 'raised')]
    resolved = page.rows[3]
    assert (resolved.actor, resolved.note, resolved.from_status, resolved.to_status) == (
        'Charge (alpha-charge)', 'back in bed, no injury', 'acknowledged', 'resolved')
    assert (resolved.patient_name, resolved.patient_mrn, resolved.bed, resolved.ward_name) == (
        'Patient North-1', 'alpha-North-1', 'North-1', 'North')
    assert (page.total, page.page, page.pages) == (6, 1, 1)


async def test_the_other_hospital_sees_only_its_own_trail(
        vigil: Vigil, world: World, story: dict[str, AlertView]) -> None:
    page = await vigil.audit.search(world.b.actor('admin'), AuditQuery())

    assert [(row.alert_id, row.type.value) for row in page.rows] == [(story['other'].id, 'raised')]


@pytest.mark.parametrize('username, expected', [
    ('nurse', {'Patient fall'}),
    ('nurse2', {'Pain score 8', 'Suspected sepsis'}),
    # A charge nurse of North also reads the South alert that escalated, not the quiet one.
    ('charge', {'Patient fall', 'Suspected sepsis'}),
    ('doctor', {'Patient fall', 'Pain score 8', 'Suspected sepsis'}),
    ('admin', {'Patient fall', 'Pain score 8', 'Suspected sepsis'}),
])
async def test_each_role_reads_its_scope(vigil: Vigil, world: World, story: dict[str, AlertView], username: str,
                                         expected: set[str]) -> None:
    page = await vigil.audit.search(world.a.actor(username), AuditQuery())

    assert {row.message for row in page.rows} == expected


@pytest.mark.parametrize('username', ['nurse', 'nurse2', 'charge', 'doctor', 'admin'])
async def test_the_rule_for_one_alert_agrees_with_the_search(
        vigil: Vigil, world: World, story: dict[str, AlertView], username: str) -> None:
    actor = world.a.actor(username)
    found = {row.alert_id for row in (await vigil.audit.search(actor, AuditQuery())).rows}
    admin = world.a.actor('admin')
    alerts = {a.id: a for a in await vigil.alerts.list_alerts(admin, AlertFilter(statuses=()))}

    assert {i for i, alert in alerts.items() if AccessScope.of(actor).reads_trail_of(alert)} == found
    assert not AccessScope.of(world.b.actor('admin')).reads_trail_of(alerts[story['fall'].id])


@pytest.mark.parametrize('kind', list(TokenKind))
async def test_tokens_cannot_read_the_trail(vigil: Vigil, world: World, story: dict[str, AlertView],
                                            kind: TokenKind) -> None:
    token = Actor(kind='token', hospital_id=world.a.hospital_id, name='token:wall', token_id=1, token_kind=kind)

    with pytest.raises(NotAllowed, match='signed-in staff'):
        await vigil.audit.search(token, AuditQuery())
    with pytest.raises(NotAllowed):
        await vigil.audit.export(token, AuditQuery())


@pytest.mark.parametrize('text, expected', [
    ('sepsis', [('Suspected sepsis', 'escalated'), ('Suspected sepsis', 'raised')]),  # message
    ('SOUTH-1', [('Pain score 8', 'raised')]),  # patient name and bed, any case
    ('alpha-charge', [('Patient fall', 'resolved')]),  # who
    ('no injury', [('Patient fall', 'resolved')]),  # note, every word must match
    ('north acknowledged', [('Patient fall', 'acknowledged')]),  # ward and event type together
    ('alpha-South-2', [('Suspected sepsis', 'escalated'), ('Suspected sepsis', 'raised')]),  # MRN
    ('fall sepsis', []),
    ('%', []),  # LIKE wildcards are searched for literally
    ('_', []),
])
async def test_search_words_match_patient_ward_actor_message_and_note(
        vigil: Vigil, world: World, story: dict[str, AlertView], text: str, expected: list[tuple[str, str]]) -> None:
    page = await vigil.audit.search(world.a.actor('admin'), AuditQuery(text=text))

    assert trail(page.rows) == expected


async def test_search_by_event_type_and_time_range(
        vigil: Vigil, world: World, story: dict[str, AlertView], clock: FakeClock) -> None:
    admin = world.a.actor('admin')
    start = story['fall'].created_at

    raised = await vigil.audit.search(admin, AuditQuery(types=(AlertEventType.RAISED,)))
    assert trail(raised.rows) == [('Suspected sepsis', 'raised'), ('Pain score 8', 'raised'),
                                  ('Patient fall', 'raised')]
    # [since, until): the minute of the acknowledgement up to (not including) the raise of the pain alert.
    window = await vigil.audit.search(admin, AuditQuery(since=start + timedelta(minutes=1),
                                                        until=start + timedelta(minutes=3)))
    assert trail(window.rows) == [('Patient fall', 'resolved'), ('Patient fall', 'acknowledged')]


async def test_a_reversed_time_range_is_refused(vigil: Vigil, world: World, story: dict[str, AlertView]) -> None:
    start = story['fall'].created_at

    with pytest.raises(InvalidInput, match='start of the date range must be before its end'):
        await vigil.audit.search(world.a.actor('admin'), AuditQuery(since=start, until=start))


async def test_pages_split_the_result_and_a_page_past_the_end_shows_the_last(
        vigil: Vigil, world: World, story: dict[str, AlertView]) -> None:
    admin = world.a.actor('admin')

    first = await vigil.audit.search(admin, AuditQuery(page_size=4))
    second = await vigil.audit.search(admin, AuditQuery(page_size=4, page=2))
    beyond = await vigil.audit.search(admin, AuditQuery(page_size=4, page=9))

    assert (first.total, first.pages, len(first.rows), len(second.rows)) == (6, 2, 4, 2)
    assert trail(first.rows) + trail(second.rows) == trail((await vigil.audit.search(admin, AuditQuery())).rows)
    assert (beyond.page, trail(beyond.rows)) == (2, trail(second.rows))


async def test_the_export_holds_every_matching_row_and_refuses_too_many(
        vigil: Vigil, world: World, story: dict[str, AlertView]) -> None:
    admin = world.a.actor('admin')

    rows = await vigil.audit.export(admin, AuditQuery(text='fall', page_size=1))
    assert trail(rows) == [('Patient fall', 'resolved'), ('Patient fall', 'acknowledged'), ('Patient fall', 'raised')]
    with pytest.raises(InvalidInput, match='3 entries match; an export holds at most 2'):
        await vigil.audit.export(admin, AuditQuery(text='fall'), limit=2)


async def test_csv_round_trips_through_a_csv_reader_and_defuses_formulas(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    tricky = 'Bed moved, "urgent"\nsecond line'
    alert = await raise_alert(vigil, world, 'North-2', 'Bed moved')
    async with vigil.db.uow() as uow:  # a line break, as alerts raised before messages had to be one line hold
        await uow.session.execute(update(Alert).where(Alert.id == alert.id).values(message=tricky))
        await uow.commit()
    await vigil.alerts.acknowledge(world.a.actor('nurse'), alert.id, note='=HYPERLINK("http://x.example","y")')
    await vigil.alerts.resolve(world.a.actor('nurse'), alert.id, note='-2+3')
    rows = await vigil.audit.export(world.a.actor('admin'), AuditQuery())

    data = audit_csv(rows, ZoneInfo('Europe/Berlin'))

    assert data.startswith('\ufeff'.encode())
    parsed = list(csv.reader(io.StringIO(data.decode('utf-8-sig'), newline='')))
    assert tuple(parsed[0]) == HEADER
    assert [(r[1], r[6], r[10]) for r in parsed[1:]] == [
        ('resolved', "'-2+3", tricky),
        ('acknowledged', '\'=HYPERLINK("http://x.example","y")', tricky),
        ('raised', 'Bed moved', tricky),  # the raise records the message (as it was then) as its note
    ]
    assert parsed[3][0] == '2026-03-02T09:00:00+01:00'  # 08:00 UTC in Berlin, with its offset
    assert parsed[3][2:6] == ['Admin (alpha-admin)', '', 'active', '0']
    assert parsed[3][11:] == ['North', 'Patient North-2', 'alpha-North-2', 'North-2', 'Admin (alpha-admin)']


async def test_csv_names_tokens_as_people_read_them_and_keeps_the_recorded_actor(
        vigil: Vigil, world: World) -> None:
    secret = (await vigil.tokens.create(hospital_slug='alpha', kind=TokenKind.INTEGRATION, name='Nurse call')).secret
    integration = await vigil.tokens.verify(secret)
    alert = await vigil.alerts.raise_alert(integration, NewAlert(priority=Priority.HIGH, message='Call bell',
                                                                 patient_id=world.a.patient_ids['North-1']))
    await vigil.alerts.acknowledge(integration, alert.id, on_behalf_of='Jordan Ellis')

    data = audit_csv(await vigil.audit.export(world.a.actor('admin'), AuditQuery()), ZoneInfo('UTC'))

    parsed = list(csv.reader(io.StringIO(data.decode('utf-8-sig'), newline='')))
    assert parsed[0][2] == 'By' and parsed[0][-1] == 'Recorded actor'
    assert [(r[1], r[2], r[-1]) for r in parsed[1:]] == [
        ('acknowledged', 'Jordan Ellis (via Nurse call)', 'Jordan Ellis (via token:Nurse call)'),
        ('raised', 'Nurse call', 'token:Nurse call'),
    ]


@pytest.mark.parametrize('recorded, shown', [
    ('token:Nurse call system', 'Nurse call system'),
    ('Jordan Ellis (via token:Nurse call system)', 'Jordan Ellis (via Nurse call system)'),
    ('token:token:odd name', 'token:odd name'),  # only the prefix the record added goes
    ('alpha-nurse', 'alpha-nurse'),
    ('escalation', 'escalation'),
    ('Sam token:Patel', 'Sam token:Patel'),  # "token:" inside a person's own name stays
    ('', ''),
    (None, ''),
])
def test_recorded_actors_read_without_the_token_prefix(recorded: str | None, shown: str) -> None:
    assert display_actor(recorded) == shown


@pytest.mark.parametrize('value, cell', [
    ('=1+1', "'=1+1"), ('+1', "'+1"), ('-1', "'-1"), ('@SUM(A1)', "'@SUM(A1)"), ('\tx', "'\tx"), ('\rx', "'\rx"),
    ('a=1', 'a=1'), ('', ''), (None, ''), (3, '3'),
])
def test_cells_a_spreadsheet_would_run_are_quoted(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


async def test_patient_history_lists_the_patients_alerts_with_their_trails(
        vigil: Vigil, world: World, story: dict[str, AlertView]) -> None:
    again = await raise_alert(vigil, world, 'North-1', 'Patient fall again', by='nurse')

    history = await vigil.audit.patient_history(world.a.actor('nurse'), world.a.patient_ids['North-1'])

    assert [h.alert.id for h in history] == [again.id, story['fall'].id]
    assert [(e.type.value, e.actor, e.note) for e in history[1].trail] == [
        ('raised', 'Nurse (alpha-nurse)', 'Patient fall'), ('acknowledged', 'Nurse (alpha-nurse)', 'on my way'),
        ('resolved', 'Charge (alpha-charge)', 'back in bed, no injury')]
    one = await vigil.audit.patient_history(world.a.actor('doctor'), world.a.patient_ids['North-1'],
                                            alert_id=story['fall'].id)
    assert [h.alert.id for h in one] == [story['fall'].id]


async def test_a_physician_reads_a_patients_medium_alerts_too(
        vigil: Vigil, world: World, story: dict[str, AlertView]) -> None:
    history = await vigil.audit.patient_history(world.a.actor('doctor'), world.a.patient_ids['South-1'])

    assert [h.alert.message for h in history] == ['Pain score 8']


async def test_patient_history_is_refused_outside_the_wards_and_hidden_across_hospitals(
        vigil: Vigil, world: World, story: dict[str, AlertView]) -> None:
    with pytest.raises(NotAllowed, match='not on one of your wards'):
        await vigil.audit.patient_history(world.a.actor('nurse'), world.a.patient_ids['South-2'])
    with pytest.raises(PatientNotFound):
        await vigil.audit.patient_history(world.a.actor('admin'), world.b.patient_ids['East-1'])
    with pytest.raises(PatientNotFound):
        await vigil.audit.patient_history(world.a.actor('admin'), 999_999)
