"""A hospital's alarm rules over HTTP, snoozing detected alerts, and the dedup keys that belong to detection alone:
who may read and change what, on behalf of whom, and every kind of bad input refused without changing anything."""

import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.bootstrap import Vigil
from app.domain import Priority, VitalKind
from app.domain.limits import (
    NEWS2_TRIGGER,
    CriticalLimit,
    LimitParameter,
    dedup_key,
    is_reserved_dedup_key,
    limit_trigger,
)
from app.domain.observations import ObservationBand
from app.schemas import NewAlert
from app.services.detection import NEWS2_LEVELS
from app.services.escalation import heartbeat_key
from data.models import Snooze

from .api_support import Api, counts, open_api, reading
from .conftest import FakeClock, World

PERSON = 'Dr Jane Roe'
VIA = f'{PERSON} (via token:alpha integration)'
LIMITS = '/api/v1/rules/limits'
ESCALATION = '/api/v1/rules/escalation'
SETTINGS = '/api/v1/rules/settings'
OBSERVATIONS = '/api/v1/rules/observations'


@pytest.fixture
async def api(vigil: Vigil, world: World) -> AsyncIterator[Api]:
    async with open_api(vigil) as api:
        yield api


@pytest.fixture
async def overridden(api: Api) -> dict[str, Any]:
    """Hospital A with its own heart-rate limits, high-priority escalation and heartbeat timeout."""
    for method, path, body in (
            ('PUT', f'{LIMITS}/heart_rate', {'low': 35, 'high': 140, 'persistence_seconds': 10, 'acted_by': PERSON}),
            ('PUT', f'{ESCALATION}/high', {'minutes': [3, 10], 'acted_by': PERSON}),
            ('PATCH', SETTINGS, {'device_silence_seconds': 300, 'acted_by': PERSON})):
        response = await api.send(method, path, body)
        assert response.status_code == 200, response.text
    return await rules_of(api)


async def rules_of(api: Api, who: str = 'integration') -> dict[str, Any]:
    response = await api.get('/api/v1/rules', who=who)
    assert response.status_code == 200, response.text
    return dict(response.json())


def limit_of(rules: dict[str, Any], parameter: str) -> dict[str, Any]:
    return dict(next(limit for limit in rules['limits'] if limit['parameter'] == parameter))


def steps_of(rules: dict[str, Any], priority: str) -> dict[str, Any]:
    return dict(next(steps for steps in rules['escalation'] if steps['priority'] == priority))


def reason(response: httpx.Response) -> str:
    """The refusal in one line: a domain message, or FastAPI's field errors as 'loc: msg'."""
    detail = response.json()['detail']
    if isinstance(detail, str):
        return detail
    return '; '.join(f'{".".join(str(part) for part in error["loc"])}: {error["msg"]}' for error in detail)


async def assert_refused(api: Api, method: str, path: str, body: Any, fragment: str, **options: Any) -> None:
    before = await rules_of(api)
    response = await api.send(method, path, body, **options)
    assert response.status_code == 422, response.text
    assert fragment in reason(response)
    assert await rules_of(api) == before


# --- reading ----------------------------------------------------------------------------------------------------------

async def test_every_token_of_the_hospital_reads_its_rules_marked_as_defaults(api: Api, world: World) -> None:
    rules = await rules_of(api, who='kiosk')

    assert rules == await rules_of(api, who='device') == await rules_of(api, who='integration')
    assert rules['hospital_id'] == world.a.hospital_id
    assert limit_of(rules, 'heart_rate') == {'parameter': 'heart_rate', 'low': 40, 'high': 131,
                                             'persistence_seconds': 0, 'persistence_readings': 1,
                                             'is_default': True, 'updated_at': None, 'updated_by': None}
    assert (limit_of(rules, 'spo2')['low'], limit_of(rules, 'spo2')['persistence_seconds']) == (91, 15)
    assert [p['parameter'] for p in rules['limits']] == [p.value for p in LimitParameter]
    assert [(s['priority'], s['minutes'], s['is_default']) for s in rules['escalation']] == [
        ('critical', [2, 5], True), ('high', [5, 15], True), ('medium', [15], True), ('low', [], True)]
    assert (rules['device_silence_seconds'], rules['alarms_latch']) == (120, True)


@pytest.mark.parametrize('secret', [None, 'vgd_unknown', 'revoked'])
async def test_missing_unknown_and_revoked_tokens_are_refused(api: Api, vigil: Vigil, secret: str | None) -> None:
    if secret == 'revoked':
        await vigil.tokens.revoke(hospital_slug='alpha', name='alpha integration')
        headers = api.auth('integration')
    else:
        headers = {'Authorization': f'Bearer {secret}'} if secret else {}
    before = await rules_of(api, who='kiosk')

    read = await api.get('/api/v1/rules', who=None, headers=headers)
    write = await api.send('PUT', f'{LIMITS}/heart_rate', {'low': 30, 'high': None, 'persistence_seconds': 0,
                                                           'acted_by': PERSON}, who=None, headers=headers)

    assert (read.status_code, write.status_code) == (401, 401)
    assert write.headers['WWW-Authenticate'] == 'Bearer'
    assert await rules_of(api, who='kiosk') == before


# --- changing them ------------------------------------------------------------------------------------------------

async def test_an_integration_overrides_a_limit_for_a_named_administrator(
        api: Api, vigil: Vigil, world: World, clock: FakeClock) -> None:
    response = await api.send('PUT', f'{LIMITS}/heart_rate', {'low': 35, 'high': 140, 'persistence_seconds': 10,
                                                              'persistence_readings': 2, 'acted_by': PERSON})

    assert response.status_code == 200
    limit = limit_of(response.json(), 'heart_rate')
    assert {k: v for k, v in limit.items() if k != 'updated_at'} == {
        'parameter': 'heart_rate', 'low': 35, 'high': 140, 'persistence_seconds': 10, 'persistence_readings': 2,
        'is_default': False, 'updated_by': VIA}
    assert datetime.fromisoformat(limit['updated_at']) == clock()
    assert await rules_of(api) == response.json()
    assert (await vigil.rules.rules(world.a.hospital_id)).limits[LimitParameter.HEART_RATE] == CriticalLimit(
        35, 140, 10, 2)
    assert limit_of(await rules_of(api, who='beta-kiosk'), 'heart_rate')['is_default'] is True


async def test_a_put_replaces_the_whole_override_and_may_switch_a_side_off(api: Api) -> None:
    await api.send('PUT', f'{LIMITS}/resp_rate', {'low': 6, 'high': 30, 'persistence_seconds': 20,
                                                  'persistence_readings': 3, 'acted_by': PERSON})
    again = await api.send('PUT', f'{LIMITS}/resp_rate', {'low': 7, 'high': 28, 'persistence_seconds': 0,
                                                          'acted_by': 'Dr Max Mustermann'})
    off = await api.send('PUT', f'{LIMITS}/spo2_scale2', {'low': None, 'high': None, 'persistence_seconds': 0,
                                                          'acted_by': PERSON})

    resp_rate = limit_of(again.json(), 'resp_rate')
    assert (resp_rate['low'], resp_rate['high'], resp_rate['persistence_seconds'],
            resp_rate['persistence_readings']) == (7, 28, 0, 1)
    assert resp_rate['updated_by'] == 'Dr Max Mustermann (via token:alpha integration)'
    assert (limit_of(off.json(), 'spo2_scale2')['low'], limit_of(off.json(), 'spo2_scale2')['high']) == (None, None)
    assert limit_of(off.json(), 'spo2')['is_default'] is True  # scale 1 is its own parameter


async def test_detection_follows_a_changed_limit_at_once(api: Api, clock: FakeClock) -> None:
    await api.send('PUT', f'{LIMITS}/heart_rate', {'low': 40, 'high': 140, 'persistence_seconds': 0,
                                                   'acted_by': PERSON})

    async def critical_values() -> list[dict[str, Any]]:
        return [a for a in (await api.get('/api/v1/alerts')).json() if a['kind'] == 'critical_value']

    assert (await api.post('/api/v1/vitals', reading(value=135, at=clock() - timedelta(minutes=2)))).status_code == 201
    assert await critical_values() == []  # 135 used to breach the default 131
    await api.post('/api/v1/vitals', reading(value=141, at=clock() - timedelta(minutes=1)))
    [alert] = await critical_values()
    assert alert['dedup_key'].startswith('limit:heart_rate:high:')


async def test_a_reset_returns_to_the_default_and_the_log_says_who(
        api: Api, world: World, overridden: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger='app.services.rules')

    first = await api.send('DELETE', f'{LIMITS}/heart_rate', params={'acted_by': PERSON})
    second = await api.send('DELETE', f'{LIMITS}/heart_rate', params={'acted_by': PERSON})

    assert (first.status_code, second.status_code) == (200, 200)  # nothing left to reset is no error
    assert limit_of(first.json(), 'heart_rate') == limit_of(await rules_of(api, who='beta-kiosk'), 'heart_rate')
    assert steps_of(first.json(), 'high')['minutes'] == [3, 10]  # other overrides stay
    assert second.json() == first.json()
    assert (f'hospital {world.a.hospital_id} alarm rules: heart_rate limits reset to the default, by {VIA}'
            in caplog.messages)


async def test_escalation_policy_set_and_reset_applies_to_new_alerts(api: Api, clock: FakeClock) -> None:
    async def next_escalation(message: str) -> datetime:
        response = await api.post('/api/v1/alerts', {'priority': 'high', 'message': message, 'ward': 'North'})
        return datetime.fromisoformat(response.json()['next_escalation_at'])

    changed = await api.send('PUT', f'{ESCALATION}/high', {'minutes': [1, 3], 'acted_by': PERSON})
    never = await api.send('PUT', f'{ESCALATION}/low', {'minutes': [], 'acted_by': PERSON})

    assert (steps_of(changed.json(), 'high')['minutes'], steps_of(changed.json(), 'high')['updated_by']) == ([1, 3],
                                                                                                              VIA)
    assert (steps_of(never.json(), 'low')['minutes'], steps_of(never.json(), 'low')['is_default']) == ([], False)
    assert await next_escalation('Nurse call fault') == clock() + timedelta(minutes=1)
    reset = await api.send('DELETE', f'{ESCALATION}/high', params={'acted_by': PERSON})
    assert (steps_of(reset.json(), 'high')['minutes'], steps_of(reset.json(), 'high')['is_default']) == ([5, 15],
                                                                                                          True)
    assert await next_escalation('Door alarm') == clock() + timedelta(minutes=5)


async def test_a_settings_patch_changes_only_what_it_names(api: Api, vigil: Vigil, world: World) -> None:
    silence = await api.send('PATCH', SETTINGS, {'device_silence_seconds': 300, 'acted_by': PERSON})
    latch = await api.send('PATCH', SETTINGS, {'alarms_latch': False, 'acted_by': PERSON})

    assert (silence.json()['device_silence_seconds'], silence.json()['alarms_latch']) == (300, True)
    assert (latch.json()['device_silence_seconds'], latch.json()['alarms_latch']) == (300, False)
    rules = await vigil.rules.rules(world.a.hospital_id)
    assert (rules.device_silence_seconds, rules.alarms_latch) == (300, False)
    assert (await rules_of(api, who='beta-kiosk'))['alarms_latch'] is True


async def test_each_hospital_changes_only_its_own_rules(api: Api, world: World) -> None:
    response = await api.send('PUT', f'{LIMITS}/temperature', {'low': 35.5, 'high': 39.5, 'persistence_seconds': 0,
                                                               'acted_by': PERSON}, who='beta-integration')

    assert response.json()['hospital_id'] == world.b.hospital_id
    assert limit_of(response.json(), 'temperature')['updated_by'] == f'{PERSON} (via token:beta integration)'
    assert limit_of(await rules_of(api), 'temperature')['is_default'] is True


WRITES = [
    ('PUT', f'{LIMITS}/heart_rate', {'low': 30, 'high': None, 'persistence_seconds': 0, 'acted_by': PERSON}, {}),
    ('DELETE', f'{LIMITS}/heart_rate', None, {'params': {'acted_by': PERSON}}),
    ('PUT', f'{ESCALATION}/high', {'minutes': [1], 'acted_by': PERSON}, {}),
    ('DELETE', f'{ESCALATION}/high', None, {'params': {'acted_by': PERSON}}),
    ('PATCH', SETTINGS, {'alarms_latch': False, 'acted_by': PERSON}, {}),
    ('PATCH', OBSERVATIONS, {'observation_grace_minutes': 60, 'news2_max_age_minutes': {'spo2': 60},
                             'acted_by': PERSON}, {}),
]


@pytest.mark.parametrize('who', ['device', 'kiosk'])
@pytest.mark.parametrize('method, path, body, options', WRITES)
async def test_device_and_kiosk_tokens_cannot_change_rules(api: Api, overridden: dict[str, Any], who: str,
                                                           method: str, path: str, body: Any,
                                                           options: dict[str, Any]) -> None:
    response = await api.send(method, path, body, who=who, **options)

    assert response.status_code == 403
    assert response.json()['detail'] == f'A {who} token cannot change alarm rules; that needs an integration token.'
    assert await rules_of(api) == overridden


# --- bad input: 422, nothing changed ----------------------------------------------------------------------------------

GOOD_LIMIT = {'low': 40, 'high': 131, 'persistence_seconds': 0, 'persistence_readings': 1, 'acted_by': PERSON}


@pytest.mark.parametrize('parameter, change, fragment', [
    ('pulse', {}, "path.parameter: Input should be 'heart_rate', 'resp_rate'"),
    ('heart_rate', {'low': 'forty'}, 'body.low: Input should be a valid number'),
    ('heart_rate', {'low': True}, 'body.low: Input should be a valid number'),
    ('heart_rate', {'persistence_seconds': 1.5}, 'body.persistence_seconds: Input should be a valid integer'),
    ('heart_rate', {'persistence_readings': '2'}, 'body.persistence_readings: Input should be a valid integer'),
    ('heart_rate', {'severity': 'high'}, 'body.severity: Extra inputs are not permitted'),
    ('heart_rate', {'acted_by': '   '}, 'body.acted_by: String should have at least 1 character'),
    ('heart_rate', {'acted_by': 'x' * 151}, 'body.acted_by: String should have at most 150 characters'),
    ('heart_rate', {'low': 140, 'high': 130}, 'The low limit of heart rate (140) must be below the high limit (130)'),
    ('heart_rate', {'low': 60, 'high': 60}, 'must be below the high limit'),
    ('heart_rate', {'high': 400}, 'The high limit of heart rate must lie within 0-350'),
    ('spo2', {'low': -1, 'high': None}, 'The low limit of SpO2 must lie within 0-100'),
    ('heart_rate', {'low': 40.5}, 'charted in steps of 1'),
    ('temperature', {'low': 35.05, 'high': None}, 'charted in steps of 0.1'),
    ('consciousness', {'low': 0, 'high': 1}, 'Consciousness has no low limit'),
    ('spo2', {'persistence_seconds': -1, 'high': None}, 'A persistence delay lasts 0-300 seconds, not -1'),
    ('spo2', {'persistence_seconds': 301, 'high': None}, 'lasts 0-300 seconds'),
    ('spo2', {'persistence_readings': 0, 'high': None}, 'counts 1-20 consecutive readings, not 0'),
    ('spo2', {'persistence_readings': 21, 'high': None}, 'counts 1-20'),
])
async def test_bad_limits_are_refused(api: Api, overridden: dict[str, Any], parameter: str, change: dict[str, Any],
                                      fragment: str) -> None:
    await assert_refused(api, 'PUT', f'{LIMITS}/{parameter}', {**GOOD_LIMIT, **change}, fragment)


@pytest.mark.parametrize('missing', ['low', 'high', 'persistence_seconds', 'acted_by'])
async def test_a_limit_needs_every_required_field(api: Api, overridden: dict[str, Any], missing: str) -> None:
    # low and high are required even though they may be null: a forgotten field must never switch a limit off.
    body = {k: v for k, v in GOOD_LIMIT.items() if k != missing}
    await assert_refused(api, 'PUT', f'{LIMITS}/heart_rate', body, f'body.{missing}: Field required')


@pytest.mark.parametrize('content, fragment', [
    (b'{"low": NaN, "high": null, "persistence_seconds": 0, "acted_by": "Dr Jane Roe"}',
     'body.low: Input should be a finite number'),
    (b'{"low": 40, "high": Infinity, "persistence_seconds": 0, "acted_by": "Dr Jane Roe"}',
     'body.high: Input should be a finite number'),
    (b'{"low": 40,', 'JSON decode error'),
    (b'[{"low": 40, "high": null, "persistence_seconds": 0, "acted_by": "Dr Jane Roe"}]',
     'body: Input should be a valid dictionary'),
    (b'', 'body: Field required'),
])
async def test_bodies_that_are_not_a_limit_object_are_refused(api: Api, overridden: dict[str, Any], content: bytes,
                                                              fragment: str) -> None:
    await assert_refused(api, 'PUT', f'{LIMITS}/heart_rate', None, fragment, content=content,
                         headers={'Content-Type': 'application/json'})


@pytest.mark.parametrize('priority, body, fragment', [
    ('urgent', {'minutes': [1]}, "path.priority: Input should be 'critical', 'high', 'medium' or 'low'"),
    ('critical', {'minutes': []}, 'Critical alerts must escalate at least once'),
    ('high', {'minutes': []}, 'High alerts must escalate at least once'),
    ('high', {'minutes': [5, 5]}, 'Escalation steps must increase strictly'),
    ('high', {'minutes': [10, 5]}, 'must increase strictly'),
    ('medium', {'minutes': [0, 5]}, 'Escalation steps are whole minutes from 1 to 1440, not 0'),
    ('medium', {'minutes': [-5]}, 'whole minutes from 1 to 1440, not -5'),
    ('medium', {'minutes': [1441]}, 'whole minutes from 1 to 1440, not 1441'),
    ('medium', {'minutes': [1.5]}, 'body.minutes.0: Input should be a valid integer'),
    ('medium', {'minutes': [True]}, 'body.minutes.0: Input should be a valid integer'),
    ('medium', {'minutes': ['5']}, 'body.minutes.0: Input should be a valid integer'),
    ('medium', {'minutes': 5}, 'body.minutes: Input should be a valid list'),
    ('medium', {'minutes': [1, 2, 3, 4, 5, 6]}, 'An escalation policy has at most 5 steps, not 6'),
    ('medium', {}, 'body.minutes: Field required'),
    ('medium', {'minutes': [5], 'note': 'x'}, 'body.note: Extra inputs are not permitted'),
])
async def test_bad_escalation_policies_are_refused(api: Api, overridden: dict[str, Any], priority: str,
                                                   body: dict[str, Any], fragment: str) -> None:
    await assert_refused(api, 'PUT', f'{ESCALATION}/{priority}', {'acted_by': PERSON, **body}, fragment)


async def test_an_escalation_policy_names_who_decided(api: Api, overridden: dict[str, Any]) -> None:
    await assert_refused(api, 'PUT', f'{ESCALATION}/high', {'minutes': [1, 2]}, 'body.acted_by: Field required')


@pytest.mark.parametrize('body, fragment', [
    ({}, 'name at least one setting to change: device_silence_seconds or alarms_latch'),
    ({'device_silence_seconds': None}, 'device_silence_seconds cannot be null; leave a setting out'),
    ({'alarms_latch': None, 'device_silence_seconds': 60}, 'alarms_latch cannot be null'),
    ({'device_silence_seconds': 29}, 'A device counts as silent after 30-86400 seconds, not 29'),
    ({'device_silence_seconds': 86_401}, 'silent after 30-86400 seconds, not 86401'),
    ({'device_silence_seconds': '300'}, 'body.device_silence_seconds: Input should be a valid integer'),
    ({'device_silence_seconds': 300.5}, 'body.device_silence_seconds: Input should be a valid integer'),
    ({'alarms_latch': 'no'}, 'body.alarms_latch: Input should be a valid boolean'),
    ({'alarms_latch': 0}, 'body.alarms_latch: Input should be a valid boolean'),
    ({'latch': False}, 'body.latch: Extra inputs are not permitted'),
])
async def test_bad_settings_are_refused(api: Api, overridden: dict[str, Any], body: dict[str, Any],
                                        fragment: str) -> None:
    await assert_refused(api, 'PATCH', SETTINGS, {'acted_by': PERSON, **body}, fragment)


async def test_a_settings_change_names_who_decided(api: Api, overridden: dict[str, Any]) -> None:
    await assert_refused(api, 'PATCH', SETTINGS, {'alarms_latch': False}, 'body.acted_by: Field required')


# --- data age and observation frequency -------------------------------------------------------------------------------

def observation_settings(rules: dict[str, Any]) -> dict[str, Any]:
    return {'stale_reading_hours': rules['stale_reading_hours'],
            'observation_grace_minutes': rules['observation_grace_minutes'],
            'news2_max_age_minutes': {a['parameter']: (a['minutes'], a['is_default'])
                                      for a in rules['news2_max_age_minutes']},
            'observation_minutes': {b['band']: (b['minutes'], b['is_default']) for b in rules['observation_minutes']}}


NEWS2_PARAMETERS = ['resp_rate', 'spo2', 'on_oxygen', 'systolic_bp', 'heart_rate', 'consciousness', 'temperature']
OBSERVATION_DEFAULTS = {
    'stale_reading_hours': 24, 'observation_grace_minutes': 30,
    'news2_max_age_minutes': {parameter: (780, True) for parameter in NEWS2_PARAMETERS},
    'observation_minutes': {'zero': (720, True), 'low': (240, True), 'urgent': (60, True), 'emergency': (15, True)},
}


async def test_every_token_reads_the_observation_settings_marked_as_defaults(api: Api) -> None:
    rules = await rules_of(api, who='kiosk')

    assert observation_settings(rules) == OBSERVATION_DEFAULTS
    assert [a['parameter'] for a in rules['news2_max_age_minutes']] == NEWS2_PARAMETERS
    assert [b['band'] for b in rules['observation_minutes']] == ['zero', 'low', 'urgent', 'emergency']


async def test_an_integration_changes_observation_settings_and_they_apply_at_once(
        api: Api, vigil: Vigil, world: World) -> None:
    await vigil.rules.rules(world.a.hospital_id)  # cached in this process: the change must not wait for it

    changed = await api.send('PATCH', OBSERVATIONS, {
        'stale_reading_hours': 6, 'news2_max_age_minutes': {'spo2': 60, 'resp_rate': 120},
        'observation_minutes': {'urgent': 30}, 'observation_grace_minutes': 15, 'acted_by': PERSON})
    reset = await api.send('PATCH', OBSERVATIONS, {'news2_max_age_minutes': {'resp_rate': None, 'heart_rate': None},
                                                   'acted_by': PERSON})

    assert (changed.status_code, reset.status_code) == (200, 200)
    expected = {
        'stale_reading_hours': 6, 'observation_grace_minutes': 15,
        'news2_max_age_minutes': {**OBSERVATION_DEFAULTS['news2_max_age_minutes'], 'spo2': (60, False)},
        'observation_minutes': {**OBSERVATION_DEFAULTS['observation_minutes'], 'urgent': (30, False)},
    }
    assert observation_settings(reset.json()) == expected
    assert reset.json() == await rules_of(api)
    rules = await vigil.rules.rules(world.a.hospital_id)
    assert (rules.stale_reading_hours, rules.observation_grace_minutes) == (6, 15)
    assert (rules.news2_max_age_minutes[VitalKind.SPO2], rules.news2_max_age_minutes[VitalKind.RESP_RATE]) == (60, 780)
    assert rules.observation_minutes[ObservationBand.URGENT] == 30
    assert observation_settings(await rules_of(api, who='beta-kiosk')) == OBSERVATION_DEFAULTS
    [second, first] = (await vigil.rules.history(world.a.actor('admin')))[:2]
    assert (second.actor, second.change) == (VIA, 'news2_max_age_minutes.resp_rate 120 -> default 780, '
                                                  'news2_max_age_minutes.heart_rate 780 -> default 780')
    assert first.change == ('stale_reading_hours 24 -> 6, news2_max_age_minutes.spo2 780 -> 60, '
                            'news2_max_age_minutes.resp_rate 780 -> 120, observation_minutes.urgent 60 -> 30, '
                            'observation_grace_minutes 30 -> 15')


@pytest.mark.parametrize('body, fragment', [
    ({}, 'name at least one setting to change: stale_reading_hours, news2_max_age_minutes, observation_minutes or '
         'observation_grace_minutes'),
    ({'stale_reading_hours': None}, 'stale_reading_hours cannot be null; leave a setting out'),
    ({'news2_max_age_minutes': None, 'observation_grace_minutes': 60},
     'news2_max_age_minutes cannot be null; leave a setting out to keep it as it is (in the maps, a key set to null '
     'returns to the default)'),
    ({'stale_reading_hours': 0},
     'The age at which an arriving reading is kept as history only must be whole hours from 1 to 168, not 0'),
    ({'stale_reading_hours': -24}, 'whole hours from 1 to 168, not -24'),
    ({'stale_reading_hours': 169}, 'whole hours from 1 to 168, not 169'),
    ({'stale_reading_hours': True}, 'body.stale_reading_hours: Input should be a valid integer'),
    ({'stale_reading_hours': '24'}, 'body.stale_reading_hours: Input should be a valid integer'),
    ({'stale_reading_hours': 1.5}, 'body.stale_reading_hours: Input should be a valid integer'),
    ({'observation_grace_minutes': 0}, 'The grace period before observations count as overdue must be whole minutes '
                                       'from 5 to 240, not 0'),
    ({'observation_grace_minutes': -5}, 'whole minutes from 5 to 240, not -5'),
    ({'observation_grace_minutes': 241}, 'whole minutes from 5 to 240, not 241'),
    ({'observation_grace_minutes': False}, 'body.observation_grace_minutes: Input should be a valid integer'),
    ({'observation_grace_minutes': '30'}, 'body.observation_grace_minutes: Input should be a valid integer'),
    ({'news2_max_age_minutes': {'spo2': 0}}, 'The maximum age of spo2 must be whole minutes from 5 to 2880, not 0'),
    ({'news2_max_age_minutes': {'spo2': -1}}, 'The maximum age of spo2 must be whole minutes from 5 to 2880, not -1'),
    ({'news2_max_age_minutes': {'spo2': 2881}}, 'from 5 to 2880, not 2881'),
    ({'news2_max_age_minutes': {'spo2': True}}, 'body.news2_max_age_minutes.spo2: Input should be a valid integer'),
    ({'news2_max_age_minutes': {'spo2': '60'}}, 'body.news2_max_age_minutes.spo2: Input should be a valid integer'),
    ({'news2_max_age_minutes': [60]}, 'body.news2_max_age_minutes: Input should be a valid dictionary'),
    ({'news2_max_age_minutes': {'pulse': 60}}, 'Unknown NEWS2 parameter "pulse"; known are resp_rate, spo2, on_oxygen, '
                                               'systolic_bp, heart_rate, consciousness, temperature.'),
    ({'news2_max_age_minutes': {'diastolic_bp': 60}}, 'Unknown NEWS2 parameter "diastolic_bp"'),
    ({'news2_max_age_minutes': {'diastolic_bp': None}}, 'Unknown NEWS2 parameter "diastolic_bp"'),
    ({'observation_minutes': {'urgent': 0}}, 'The observation interval of band "urgent" must be whole minutes from 5 '
                                             'to 1440, not 0'),
    ({'observation_minutes': {'urgent': -60}}, 'band "urgent" must be whole minutes from 5 to 1440, not -60'),
    ({'observation_minutes': {'zero': 1441}}, 'band "zero" must be whole minutes from 5 to 1440, not 1441'),
    ({'observation_minutes': {'low': True}}, 'body.observation_minutes.low: Input should be a valid integer'),
    ({'observation_minutes': {'low': '4h'}}, 'body.observation_minutes.low: Input should be a valid integer'),
    ({'observation_minutes': {'high': 60}}, 'Unknown observation band "high"; known are zero, low, urgent, '
                                            'emergency.'),
    ({'observation_minutes': {'urgent': 300}}, 'Band "urgent" (300 min) cannot be observed less often than band '
                                               '"low" (240 min).'),
    ({'observation_minutes': {'emergency': 90}}, 'Band "emergency" (90 min) cannot be observed less often than band '
                                                 '"urgent" (60 min).'),
    ({'observation_minutes': {}}, 'Name at least one observation setting to change.'),
    ({'stale_reading_hours': 6, 'observation_grace_minutes': 60, 'news2_max_age_minutes': {'spo2': 60},
      'observation_minutes': {'zero': 200}}, 'Band "low" (240 min) cannot be observed less often than band "zero"'),
    ({'grace_minutes': 60}, 'body.grace_minutes: Extra inputs are not permitted'),
])
async def test_bad_observation_settings_are_refused(api: Api, overridden: dict[str, Any], body: dict[str, Any],
                                                    fragment: str) -> None:
    await assert_refused(api, 'PATCH', OBSERVATIONS, {'acted_by': PERSON, **body}, fragment)


async def test_an_observation_settings_change_names_who_decided(api: Api, overridden: dict[str, Any]) -> None:
    await assert_refused(api, 'PATCH', OBSERVATIONS, {'observation_grace_minutes': 60},
                         'body.acted_by: Field required')


@pytest.mark.parametrize('path, params, fragment', [
    (f'{LIMITS}/heart_rate', {}, 'query.acted_by: Field required'),
    (f'{LIMITS}/heart_rate', {'acted_by': ''}, 'query.acted_by: String should have at least 1 character'),
    (f'{LIMITS}/heart_rate', {'acted_by': '   '}, 'An integration must name the person who acted'),
    (f'{LIMITS}/pulse', {'acted_by': PERSON}, "path.parameter: Input should be 'heart_rate'"),
    (f'{ESCALATION}/high', {}, 'query.acted_by: Field required'),
    (f'{ESCALATION}/urgent', {'acted_by': PERSON}, "path.priority: Input should be 'critical'"),
])
async def test_bad_resets_are_refused(api: Api, overridden: dict[str, Any], path: str, params: dict[str, str],
                                      fragment: str) -> None:
    await assert_refused(api, 'DELETE', path, None, fragment, params=params)


# --- snoozing a detected alert ----------------------------------------------------------------------------------------

async def detected_alert(api: Api, clock: FakeClock) -> dict[str, Any]:
    """A critical-value alert: heart rate 135 breaches the default 131 (and no persistence delay applies)."""
    assert (await api.post('/api/v1/vitals', reading(value=135, at=clock()))).status_code == 201
    [alert] = [a for a in (await api.get('/api/v1/alerts')).json() if a['kind'] == 'critical_value']
    return dict(alert)


def snooze_body(**change: Any) -> dict[str, Any]:
    return {'acted_by': PERSON, 'minutes': 30, 'reason': 'known tachycardia, cardiology aware', **change}


async def trail(api: Api, alert_id: int) -> list[tuple[str, str, str | None]]:
    return [(e['type'], e['actor'], e['note']) for e in (await api.get(f'/api/v1/alerts/{alert_id}/audit')).json()]


async def test_an_integration_snoozes_a_detected_alert_for_a_named_person(
        api: Api, vigil: Vigil, clock: FakeClock) -> None:
    alert = await detected_alert(api, clock)

    response = await api.post(f'/api/v1/alerts/{alert["id"]}/snooze', snooze_body(), who='integration')

    assert response.status_code == 200
    snoozed = response.json()
    assert datetime.fromisoformat(snoozed['snoozed_until']) == clock() + timedelta(minutes=30)
    assert (snoozed['status'], snoozed['version']) == ('active', alert['version'] + 1)  # still visible and open
    assert (await trail(api, alert['id']))[-1] == (
        'snoozed', VIA, 'snoozed for 30 min, until 08:30 UTC: known tachycardia, cardiology aware')
    async with vigil.db.read() as session:
        [row] = (await session.scalars(select(Snooze))).all()
    assert (row.created_by, row.trigger, row.reason) == (VIA, 'limit:heart_rate:high',
                                                         'known tachycardia, cardiology aware')
    # Detection honours it: the condition coming back is counted on the alert, quietly.
    await api.post('/api/v1/vitals', reading(value=80, at=clock.advance(minutes=1)))
    await api.post('/api/v1/vitals', reading(value=136, at=clock.advance(minutes=1)))
    [again] = [a for a in (await api.get('/api/v1/alerts')).json() if a['kind'] == 'critical_value']
    assert (again['id'], again['occurrences']) == (alert['id'], 2)
    assert (await trail(api, alert['id']))[-1][2].endswith('snoozed until 08:30 UTC, not re-alerted')


@pytest.mark.parametrize('who', ['device', 'kiosk'])
async def test_devices_and_kiosks_cannot_snooze(api: Api, clock: FakeClock, who: str) -> None:
    alert = await detected_alert(api, clock)

    response = await api.post(f'/api/v1/alerts/{alert["id"]}/snooze', snooze_body(), who=who)

    assert response.status_code == 403
    assert response.json()['detail'] == f'A {who} token cannot snooze alerts; that needs an integration token.'
    assert (await api.get(f'/api/v1/alerts/{alert["id"]}')).json() == alert


@pytest.mark.parametrize('body, fragment', [
    (snooze_body(acted_by=None), 'body.acted_by: Input should be a valid string'),
    ({k: v for k, v in snooze_body().items() if k != 'acted_by'}, 'body.acted_by: Field required'),
    (snooze_body(acted_by='  '), 'body.acted_by: String should have at least 1 character'),
    (snooze_body(minutes=4), 'body.minutes: Input should be greater than or equal to 5'),
    (snooze_body(minutes=241), 'body.minutes: Input should be less than or equal to 240'),
    (snooze_body(minutes=1.5), 'body.minutes: Input should be a valid integer'),
    (snooze_body(minutes='30'), 'body.minutes: Input should be a valid integer'),
    (snooze_body(minutes=True), 'body.minutes: Input should be a valid integer'),
    ({k: v for k, v in snooze_body().items() if k != 'minutes'}, 'body.minutes: Field required'),
    ({k: v for k, v in snooze_body().items() if k != 'reason'}, 'body.reason: Field required'),
    (snooze_body(reason=' '), 'body.reason: String should have at least 1 character'),
    (snooze_body(reason='x' * 501), 'body.reason: String should have at most 500 characters'),
    (snooze_body(until='09:00'), 'body.until: Extra inputs are not permitted'),
    (None, 'body: Field required'),
])
async def test_bad_snoozes_are_refused_and_change_nothing(api: Api, vigil: Vigil, clock: FakeClock, body: Any,
                                                          fragment: str) -> None:
    alert = await detected_alert(api, clock)
    before = await counts(vigil)

    response = await api.post(f'/api/v1/alerts/{alert["id"]}/snooze', body, who='integration')

    assert response.status_code == 422
    assert fragment in reason(response)
    assert (await api.get(f'/api/v1/alerts/{alert["id"]}')).json() == alert
    assert await counts(vigil) == before


async def test_only_detected_alerts_of_a_patient_can_be_snoozed(api: Api, vigil: Vigil) -> None:
    raised = await api.post('/api/v1/alerts', {'priority': 'high', 'message': 'Pump occlusion',
                                               'patient_mrn': 'alpha-North-1'})
    before = await counts(vigil)

    response = await api.post(f'/api/v1/alerts/{raised.json()["id"]}/snooze', snooze_body(), who='integration')

    assert response.status_code == 422
    assert response.json()['detail'].endswith('is not a NEWS2 or critical-value alert of a patient; only those can '
                                              'be snoozed.')
    assert await counts(vigil) == before


async def test_a_resolved_or_changed_alert_is_a_conflict(api: Api, clock: FakeClock) -> None:
    alert = await detected_alert(api, clock)
    path = f'/api/v1/alerts/{alert["id"]}'

    await api.post(f'{path}/acknowledge', {'acted_by': PERSON}, who='integration')
    stale = await api.post(f'{path}/snooze', snooze_body(expected_version=alert['version']), who='integration')
    await api.post(f'{path}/resolve', {'acted_by': PERSON}, who='integration')
    resolved = await api.post(f'{path}/snooze', snooze_body(), who='integration')

    assert (stale.status_code, stale.json()['current_version']) == (409, alert['version'] + 1)
    assert 'changed by someone else' in stale.json()['detail']
    assert resolved.status_code == 409
    assert resolved.json()['detail'] == f'Alert {alert["id"]} is already resolved and cannot be snoozed.'
    assert resolved.json()['alert']['snoozed_until'] is None
    assert [t for t, _, _ in await trail(api, alert['id'])] == ['raised', 'acknowledged', 'resolved']


async def test_another_hospitals_alert_is_not_found(api: Api, vigil: Vigil, world: World) -> None:
    b_alert = await vigil.alerts.raise_alert(world.b.actor('nurse'), NewAlert(
        priority=Priority.HIGH, message='B: fall', patient_id=world.b.patient_ids['East-1']))

    for alert_id in (b_alert.id, 999_999):
        response = await api.post(f'/api/v1/alerts/{alert_id}/snooze', snooze_body(), who='integration')
        assert (response.status_code, response.json()['detail']) == (404, f'Alert {alert_id} not found.')


async def test_a_retried_snooze_is_answered_again_without_a_second_snooze(api: Api, clock: FakeClock) -> None:
    alert = await detected_alert(api, clock)
    headers = {'Idempotency-Key': 'snooze-1'}

    first = await api.post(f'/api/v1/alerts/{alert["id"]}/snooze', snooze_body(), who='integration', headers=headers)
    clock.advance(seconds=30)
    retry = await api.post(f'/api/v1/alerts/{alert["id"]}/snooze', snooze_body(), who='integration', headers=headers)

    assert (first.status_code, retry.status_code, retry.headers['Idempotent-Replayed']) == (200, 200, 'true')
    assert retry.json() == first.json()
    assert [t for t, _, _ in await trail(api, alert['id'])].count('snoozed') == 1


# --- dedup keys reserved for detection ----------------------------------------------------------------------------

@pytest.mark.parametrize('key', ['news2:emergency:1', 'limit:heart_rate:high:1', 'heartbeat:1', 'NEWS2:urgent:1',
                                 '  Limit:spo2:low:1', 'heartbeat:'])
async def test_outside_alerts_cannot_take_detections_dedup_keys(api: Api, vigil: Vigil, key: str) -> None:
    before = await counts(vigil)

    response = await api.post('/api/v1/alerts', {'priority': 'high', 'message': 'x', 'ward': 'North',
                                                 'dedup_key': key})

    assert response.status_code == 422
    assert ("body.dedup_key: Value error, dedup keys starting with news2:, limit:, heartbeat:, observations: are "
            "reserved for Vigil's own detection") in reason(response)
    assert await counts(vigil) == before


async def test_a_detected_alert_never_counts_an_outside_occurrence(api: Api, clock: FakeClock) -> None:
    alert = await detected_alert(api, clock)

    response = await api.post('/api/v1/alerts', {'priority': 'critical', 'message': 'monitor says tachycardia',
                                                 'patient_mrn': 'alpha-North-1', 'dedup_key': alert['dedup_key']})

    assert response.status_code == 422
    assert (await api.get(f'/api/v1/alerts/{alert["id"]}')).json() == alert


@pytest.mark.parametrize('key', ['news2-review:bed-4', 'pump-17:limit:occlusion', 'limits:door', 'heartbeat'])
async def test_other_keys_are_the_integrations_own(api: Api, key: str) -> None:
    response = await api.post('/api/v1/alerts', {'priority': 'low', 'message': 'x', 'ward': 'North',
                                                 'dedup_key': key})

    assert (response.status_code, response.json()['dedup_key']) == (201, key)


def test_every_key_detection_and_the_watchdog_use_is_reserved() -> None:
    keys = [dedup_key(limit_trigger(parameter, side), 7) for parameter in LimitParameter for side in ('low', 'high')]
    keys += [dedup_key(trigger, 7) for _, trigger in NEWS2_LEVELS] + [dedup_key(NEWS2_TRIGGER, 7), heartbeat_key(7)]

    assert all(is_reserved_dedup_key(key) for key in keys)
