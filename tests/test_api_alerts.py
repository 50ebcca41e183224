"""Alerts over HTTP: raise, list, read, acknowledge and resolve on behalf of a person, the audit trail, and the
boundaries: token kinds, other hospitals, stale versions."""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.bootstrap import Vigil
from app.domain import Priority
from app.events import Event
from app.events.models import AlertEventBase
from app.schemas import AlertView, NewAlert

from .api_support import Api, counts, open_api
from .conftest import World

PERSON = 'Dr Jane Roe'


@pytest.fixture
async def api(vigil: Vigil, world: World) -> AsyncIterator[Api]:
    async with open_api(vigil) as api:
        yield api


@pytest.fixture
async def b_alert(vigil: Vigil, world: World) -> AlertView:
    """An open alert of the other hospital."""
    return await vigil.alerts.raise_alert(world.b.actor('nurse'), NewAlert(
        priority=Priority.CRITICAL, message='B: cardiac arrest', patient_id=world.b.patient_ids['East-1']))


async def raise_alert(api: Api, who: str = 'device', **body: Any) -> dict[str, Any]:
    if not {'patient_mrn', 'ward', 'ward_id'} & set(body):
        body['ward'] = 'North'
    response = await api.post('/api/v1/alerts', {'priority': 'high', 'message': 'Pump occlusion', **body}, who=who)
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


async def test_a_device_raises_an_alert_for_a_patient(api: Api, world: World) -> None:
    response = await api.post('/api/v1/alerts', {'patient_mrn': 'alpha-South-1', 'priority': 'high',
                                                 'message': 'Infusion pump occlusion'})

    assert response.status_code == 201
    alert = response.json()
    assert (alert['patient_mrn'], alert['ward_name'], alert['bed']) == ('alpha-South-1', 'South', 'South-1')
    assert (alert['priority'], alert['status'], alert['kind']) == ('high', 'active', 'external')
    assert alert['created_by'] == 'token:alpha device'
    assert (await api.get(f'/api/v1/alerts/{alert["id"]}')).json() == alert


async def test_an_alert_without_a_patient_names_its_ward(api: Api, world: World) -> None:
    by_name = await raise_alert(api, ward='South', kind='manual')
    by_id = await raise_alert(api, ward_id=world.a.ward_ids['North'], message='Nurse call fault')

    assert (by_name['ward_id'], by_name['patient_id'], by_name['kind']) == (world.a.ward_ids['South'], None, 'manual')
    assert by_id['ward_name'] == 'North'


async def test_the_same_dedup_key_counts_occurrences_of_one_open_alert(api: Api) -> None:
    first = await api.post('/api/v1/alerts', {'ward': 'North', 'priority': 'low', 'message': 'Gas pressure low',
                                              'dedup_key': 'gas-1'})
    again = await api.post('/api/v1/alerts', {'ward': 'North', 'priority': 'high', 'message': 'Gas pressure low',
                                              'dedup_key': 'gas-1'})

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()['id'] == first.json()['id']
    assert (again.json()['occurrences'], again.json()['priority']) == (2, 'high')


@pytest.mark.parametrize('first, second, ward, same', [
    pytest.param({'patient_mrn': 'alpha-North-1'}, {'patient_mrn': 'alpha-South-1'}, 'South', False,
                 id='two patients on two wards'),
    pytest.param({'patient_mrn': 'alpha-North-1'}, {'patient_mrn': 'alpha-North-2'}, 'North', False,
                 id='two patients on one ward'),
    pytest.param({'ward': 'North'}, {'ward': 'South'}, 'South', False, id='two wards'),
    pytest.param({'patient_mrn': 'alpha-North-1'}, {'ward': 'North'}, 'North', False,
                 id='a patient alert, then a ward alert of its ward'),
    pytest.param({'ward': 'North'}, {'patient_mrn': 'alpha-North-1'}, 'North', False,
                 id='a ward alert, then a patient alert of that ward'),
    pytest.param({'patient_mrn': 'alpha-North-1'}, {'patient_mrn': 'alpha-North-1'}, 'North', True,
                 id='the same patient again'),
])
async def test_a_dedup_key_counts_occurrences_only_for_the_same_patient_or_ward(
        api: Api, vigil: Vigil, world: World, received: list[Event], first: dict[str, str], second: dict[str, str],
        ward: str, same: bool) -> None:
    one = await api.post('/api/v1/alerts', {**first, 'priority': 'medium', 'message': 'Pump occlusion',
                                            'dedup_key': 'K'})
    two = await api.post('/api/v1/alerts', {**second, 'priority': 'critical', 'message': 'Cardiac arrest alarm',
                                            'dedup_key': 'K'})

    assert (one.status_code, two.status_code) == (201, 200 if same else 201)
    theirs = two.json()
    assert (theirs['patient_mrn'], theirs['ward_name'], theirs['priority']) == (
        second.get('patient_mrn'), ward, 'critical')
    await vigil.bus.drain()
    alert_events = [(e.type, e.alert.id, e.ward_id) for e in received if isinstance(e, AlertEventBase)]
    if same:
        assert (theirs['id'], theirs['occurrences']) == (one.json()['id'], 2)
        assert [(t == 'AlertRaised', i, w) for t, i, w in alert_events] == [
            (True, theirs['id'], theirs['ward_id']), (False, theirs['id'], theirs['ward_id'])]
        return
    assert (theirs['occurrences'], theirs['message']) == (1, 'Cardiac arrest alarm')
    assert theirs['id'] != one.json()['id']
    assert (await api.get(f'/api/v1/alerts/{one.json()["id"]}')).json() == one.json()  # untouched
    assert alert_events == [('AlertRaised', one.json()['id'], one.json()['ward_id']),
                            ('AlertRaised', theirs['id'], world.a.ward_ids[ward])]  # the second ward is told


@pytest.mark.parametrize('body, status, message', [
    ({'priority': 'high', 'message': 'x'}, 422, 'An alert needs a patient_mrn, or a ward'),
    ({'priority': 'urgent', 'message': 'x', 'ward': 'North'}, 422, 'priority'),
    ({'priority': 'high', 'message': '', 'ward': 'North'}, 422, 'message'),
    ({'priority': 'high', 'message': 'x', 'ward': 'North', 'kind': 'news2'}, 422, 'kind'),
    ({'priority': 'high', 'message': 'x', 'ward': 'North', 'colour': 'red'}, 422, 'colour'),
    ({'priority': 'high', 'message': 'x', 'ward': 'North', 'ward_id': 999999}, 422, 'is not the ward named'),
    ({'priority': 'high', 'message': 'x', 'patient_mrn': 'nobody'}, 404, 'No patient with MRN "nobody".'),
    ({'priority': 'high', 'message': 'x', 'patient_mrn': 'beta-East-1'}, 404, 'No patient with MRN "beta-East-1".'),
    ({'priority': 'high', 'message': 'x', 'ward': 'East'}, 404, 'No ward named "East".'),
])
async def test_a_bad_alert_is_refused_and_nothing_is_raised(
        api: Api, vigil: Vigil, body: dict[str, Any], status: int, message: str) -> None:
    before = await counts(vigil)

    response = await api.post('/api/v1/alerts', body)

    assert response.status_code == status
    assert message in str(response.json()['detail'])
    assert await counts(vigil) == before


async def test_another_hospitals_ward_id_is_not_found(api: Api, vigil: Vigil, world: World) -> None:
    response = await api.post('/api/v1/alerts', {'priority': 'high', 'message': 'x',
                                                 'ward_id': world.b.ward_ids['East']})

    assert response.status_code == 404
    assert response.json() == {'detail': f'Ward {world.b.ward_ids["East"]} not found.'}


async def test_kiosks_only_read_alerts(api: Api, vigil: Vigil) -> None:
    alert = await raise_alert(api)
    before = await counts(vigil)

    raised = await api.post('/api/v1/alerts', {'ward': 'North', 'priority': 'low', 'message': 'x'}, who='kiosk')
    acknowledged = await api.post(f'/api/v1/alerts/{alert["id"]}/acknowledge', {'acted_by': PERSON}, who='kiosk')

    assert (raised.status_code, acknowledged.status_code) == (403, 403)
    assert acknowledged.json() == {'detail': 'A kiosk token cannot acknowledge or resolve alerts; that needs an '
                                             'integration token.'}
    assert await counts(vigil) == before
    assert (await api.get('/api/v1/alerts', who='kiosk')).status_code == 200


async def test_the_list_is_filtered_and_holds_only_the_own_hospitals_alerts(
        api: Api, world: World, b_alert: AlertView) -> None:
    north = await raise_alert(api, patient_mrn='alpha-North-1', priority='critical')
    south = await raise_alert(api, ward='South', priority='low')
    done = await raise_alert(api, ward='South', priority='medium')
    await api.post(f'/api/v1/alerts/{done["id"]}/resolve', {'acted_by': PERSON}, who='integration')

    async def ids(**params: Any) -> list[int]:
        response = await api.get('/api/v1/alerts', params=params)
        assert response.status_code == 200, response.text
        return [a['id'] for a in response.json()]

    assert await ids() == [north['id'], south['id']]  # open ones, most urgent first
    assert await ids(status=['resolved']) == [done['id']]
    # Unacknowledged before resolved, whatever the priority (the needs-attention order).
    assert await ids(status=['active', 'resolved'], priority=['low', 'medium']) == [south['id'], done['id']]
    assert await ids(ward_id=world.a.ward_ids['South']) == [south['id']]
    assert await ids(patient_mrn='alpha-North-1') == [north['id']]
    assert await ids(limit=1) == [north['id']]
    assert await ids(ward_id=world.b.ward_ids['East']) == []
    assert b_alert.id not in await ids(status=['active', 'acknowledged', 'resolved'])
    assert (await api.get('/api/v1/alerts', params={'patient_mrn': 'beta-East-1'})).status_code == 404
    assert (await api.get('/api/v1/alerts', params={'status': 'closed'})).status_code == 422
    assert (await api.get('/api/v1/alerts', params={'limit': 0})).status_code == 422


async def test_another_hospitals_alert_is_answered_like_a_missing_one(api: Api, b_alert: AlertView) -> None:
    missing = 987654
    for path in ('', '/audit'):
        theirs = await api.get(f'/api/v1/alerts/{b_alert.id}{path}', who='integration')
        nowhere = await api.get(f'/api/v1/alerts/{missing}{path}', who='integration')
        assert (theirs.status_code, nowhere.status_code) == (404, 404)
        assert theirs.json()['detail'].replace(str(b_alert.id), 'N') == nowhere.json()['detail'].replace(
            str(missing), 'N') == 'Alert N not found.'
    for action in ('acknowledge', 'resolve'):
        response = await api.post(f'/api/v1/alerts/{b_alert.id}/{action}', {'acted_by': PERSON}, who='integration')
        assert response.json() == {'detail': f'Alert {b_alert.id} not found.'}


async def test_an_integration_acknowledges_and_resolves_for_a_named_person(api: Api, vigil: Vigil) -> None:
    alert = await raise_alert(api, priority='critical', patient_mrn='alpha-North-2')

    acknowledged = await api.post(f'/api/v1/alerts/{alert["id"]}/acknowledge',
                                  {'acted_by': PERSON, 'note': 'on my way', 'expected_version': alert['version']},
                                  who='integration')
    resolved = await api.post(f'/api/v1/alerts/{alert["id"]}/resolve', {'acted_by': 'Nurse Kim'}, who='integration')

    assert acknowledged.status_code == 200
    assert (acknowledged.json()['status'], acknowledged.json()['acknowledged_by']) == (
        'acknowledged', f'{PERSON} (via token:alpha integration)')
    assert acknowledged.json()['next_escalation_at'] is None
    assert (resolved.status_code, resolved.json()['status']) == (200, 'resolved')
    trail = (await api.get(f'/api/v1/alerts/{alert["id"]}/audit')).json()
    assert [(e['type'], e['actor'], e['note']) for e in trail] == [
        ('raised', 'token:alpha device', 'Pump occlusion'),
        ('acknowledged', f'{PERSON} (via token:alpha integration)', 'on my way'),
        ('resolved', 'Nurse Kim (via token:alpha integration)', None),
    ]


@pytest.mark.parametrize('body', [None, {}, {'acted_by': '  '}])
async def test_acting_without_naming_the_person_is_refused(api: Api, vigil: Vigil, body: Any) -> None:
    alert = await raise_alert(api)

    response = await api.post(f'/api/v1/alerts/{alert["id"]}/acknowledge', body, who='integration')

    assert response.status_code == 422
    assert 'must name the person who acted' in response.json()['detail']
    assert (await api.get(f'/api/v1/alerts/{alert["id"]}')).json()['status'] == 'active'


async def test_devices_cannot_acknowledge(api: Api) -> None:
    alert = await raise_alert(api)

    response = await api.post(f'/api/v1/alerts/{alert["id"]}/acknowledge', {'acted_by': PERSON}, who='device')

    assert response.status_code == 403


async def test_a_stale_version_or_a_repeated_action_is_a_conflict_with_the_current_alert(api: Api) -> None:
    alert = await raise_alert(api, dedup_key='pump-3')
    await raise_alert(api, dedup_key='pump-3')  # another occurrence: version 2

    stale = await api.post(f'/api/v1/alerts/{alert["id"]}/acknowledge',
                           {'acted_by': PERSON, 'expected_version': alert['version']}, who='integration')
    assert stale.status_code == 409
    assert stale.json()['current_version'] == alert['version'] + 1
    assert stale.json()['alert']['occurrences'] == 2
    assert 'changed by someone else' in stale.json()['detail']

    fresh = await api.post(f'/api/v1/alerts/{alert["id"]}/acknowledge',
                           {'acted_by': PERSON, 'expected_version': stale.json()['current_version']},
                           who='integration')
    twice = await api.post(f'/api/v1/alerts/{alert["id"]}/acknowledge', {'acted_by': PERSON}, who='integration')

    assert fresh.status_code == 200
    assert twice.status_code == 409
    assert twice.json()['detail'] == f'Alert {alert["id"]} is already acknowledged.'
    assert twice.json()['alert']['acknowledged_by'] == f'{PERSON} (via token:alpha integration)'


FORGED = 'Nurse Kim\n2026-03-02 08:01:00,000 INFO vigil.alerts: alert 1 resolved [alert.resolved]'


@pytest.mark.parametrize(('path', 'body'), [
    ('acknowledge', {'acted_by': FORGED}),
    ('acknowledge', {'acted_by': PERSON, 'note': 'on my way\r\nresolved'}),
    ('resolve', {'acted_by': 'Nurse\tKim'}),
    ('resolve', {'acted_by': PERSON, 'note': 'done\u2028resolved by admin'}),
    ('acknowledge', {'acted_by': 'Nurse \x1b[2KKim'}),
    ('snooze', {'acted_by': PERSON, 'minutes': 30, 'reason': 'known AF\nresolved'}),
    ('snooze', {'acted_by': 'Dr \u202eeoR', 'minutes': 30, 'reason': 'known AF'}),
])
async def test_names_notes_and_reasons_with_line_breaks_or_control_characters_are_refused_and_change_nothing(
        api: Api, path: str, body: dict[str, Any]) -> None:
    # Reproduced: a newline in acted_by wrote a separate, well-formed alert.resolved line into the text log and was
    # stored in the audit trail.
    alert = await raise_alert(api, priority='critical', patient_mrn='alpha-North-2')

    response = await api.post(f'/api/v1/alerts/{alert["id"]}/{path}', body, who='integration')

    assert response.status_code == 422
    assert 'must be one line of printable text' in response.json()['detail']
    after = (await api.get(f'/api/v1/alerts/{alert["id"]}')).json()
    assert (after['status'], after['version'], after['snoozed_until']) == ('active', alert['version'], None)
    trail = (await api.get(f'/api/v1/alerts/{alert["id"]}/audit')).json()
    assert [e['type'] for e in trail] == ['raised']


async def test_an_alert_message_with_a_line_break_is_refused(api: Api) -> None:
    before = (await api.get('/api/v1/alerts')).json()
    response = await api.post('/api/v1/alerts', {'priority': 'high', 'message': 'Pump\nalert.resolved',
                                                 'ward': 'North'}, who='device')
    assert response.status_code == 422
    assert response.json()['detail'] == ('The message must be one line of printable text: it contains a line break '
                                         '(U+000A).')
    assert (await api.get('/api/v1/alerts')).json() == before
