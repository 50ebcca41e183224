"""Webhooks over HTTP: integration tokens manage them on behalf of an administrator, device and kiosk tokens are
refused, the secret is shown once, and every kind of bad input is refused without changing anything."""

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from app.bootstrap import Vigil
from app.webhooks.dispatcher import WebhookDispatcher
from app.webhooks.rules import MAX_ATTEMPTS, retry_delay

from .api_support import Api, open_api
from .conftest import FakeClock, World
from .test_webhooks import check_signature
from .webhook_receiver import Receiver, closed_port_url, running_receiver

PERSON = 'Dr Jane Roe'
HOOKS = '/api/v1/webhooks'


@pytest.fixture
async def api(vigil: Vigil, world: World) -> AsyncIterator[Api]:
    async with open_api(vigil) as api:
        yield api


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


def new_hook(url: str, **extra: Any) -> dict[str, Any]:
    return {'name': 'Pager bridge', 'url': url, 'acted_by': PERSON, **extra}


async def test_create_list_pause_and_delete_with_an_integration_token(
        api: Api, world: World, receiver: Receiver) -> None:
    created = await api.send('POST', HOOKS, new_hook(receiver.url, priorities=['critical'],
                                                     wards=[world.a.ward_ids['North']]))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body['secret'].startswith('whsec_') and body['created_by'] == f'{PERSON} (via token:alpha integration)'
    assert body['priorities'] == ['critical'] and body['event_types'] is None and body['enabled'] is True
    listed = (await api.send('GET', HOOKS)).json()
    assert [h['name'] for h in listed] == ['Pager bridge'] and 'secret' not in listed[0]
    assert listed[0]['secret_hint'] == body['secret'][:10] + '…'
    one = await api.send('GET', f'{HOOKS}/{body["id"]}')
    assert one.status_code == 200 and 'secret' not in one.json()
    paused = await api.send('PATCH', f'{HOOKS}/{body["id"]}', {'enabled': False, 'acted_by': PERSON})
    assert paused.status_code == 200 and paused.json()['enabled'] is False
    assert (await api.send('GET', f'{HOOKS}/{body["id"]}/deliveries')).json() == []
    gone = await api.send('DELETE', f'{HOOKS}/{body["id"]}', params={'acted_by': PERSON})
    assert gone.status_code == 204
    assert (await api.send('GET', f'{HOOKS}/{body["id"]}')).status_code == 404
    assert (await api.send('GET', HOOKS)).json() == []


async def test_device_and_kiosk_tokens_and_other_hospitals_are_refused(api: Api, receiver: Receiver) -> None:
    for who in ('device', 'kiosk'):
        assert (await api.send('GET', HOOKS, who=who)).status_code == 403
        assert (await api.send('POST', HOOKS, new_hook(receiver.url), who=who)).status_code == 403
    assert (await api.send('GET', HOOKS, who=None)).status_code == 401
    made = (await api.send('POST', HOOKS, new_hook(receiver.url))).json()
    assert (await api.send('GET', f'{HOOKS}/{made["id"]}', who='beta-integration')).status_code == 404
    assert (await api.send('DELETE', f'{HOOKS}/{made["id"]}', who='beta-integration',
                           params={'acted_by': PERSON})).status_code == 404
    assert (await api.send('GET', HOOKS, who='beta-integration')).json() == []
    assert len((await api.send('GET', HOOKS)).json()) == 1


@pytest.mark.parametrize('change', [
    {'url': 'ftp://example.org/x'}, {'url': 'https://user:pw@example.org/x'}, {'url': 'https://example.org/#x'},
    {'url': 'https://example.org:70000/x'}, {'url': ''}, {'url': 42}, {'name': ''}, {'name': 'a\nb'},
    {'priorities': []}, {'priorities': ['urgent']}, {'event_types': ['alert.deleted']}, {'wards': [999999]},
    {'wards': ['North']}, {'enabled': 'yes'}, {'acted_by': ''}, {'colour': 'red'},
])
async def test_bad_input_is_refused_and_creates_nothing(api: Api, receiver: Receiver, change: dict[str, Any]) -> None:
    answer = await api.send('POST', HOOKS, {**new_hook(receiver.url), **change})
    assert answer.status_code == 422, answer.text
    assert (await api.send('GET', HOOKS)).json() == []


async def test_missing_acted_by_and_a_duplicate_name_are_refused(api: Api, receiver: Receiver) -> None:
    body = new_hook(receiver.url)
    del body['acted_by']
    assert (await api.send('POST', HOOKS, body)).status_code == 422
    assert (await api.send('POST', HOOKS, new_hook(receiver.url))).status_code == 201
    assert (await api.send('POST', HOOKS, new_hook(receiver.url))).status_code == 409
    made = (await api.send('GET', HOOKS)).json()[0]
    assert (await api.send('PATCH', f'{HOOKS}/{made["id"]}', {'enabled': 'no', 'acted_by': PERSON})).status_code == 422
    assert (await api.send('DELETE', f'{HOOKS}/{made["id"]}')).status_code == 422  # no acted_by
    assert len((await api.send('GET', HOOKS)).json()) == 1


async def test_deliveries_show_every_attempt_and_a_failed_one_is_retried(
        api: Api, vigil: Vigil, world: World, clock: FakeClock, receiver: Receiver) -> None:
    made = (await api.send('POST', HOOKS, new_hook(closed_port_url()))).json()
    alert = await api.post('/api/v1/alerts', {'patient_mrn': 'alpha-North-1', 'priority': 'high',
                                              'message': 'Pump occlusion'})
    assert alert.status_code == 201
    worker = WebhookDispatcher(vigil.db, vigil.clock)
    try:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            await worker.tick()
            clock.advance(seconds=retry_delay(attempt).total_seconds())
        [failed] = (await api.send('GET', f'{HOOKS}/{made["id"]}/deliveries', params={'status': 'failed'})).json()
        assert failed['attempts'] == MAX_ATTEMPTS and len(failed['history']) == MAX_ATTEMPTS
        assert failed['history'][0]['status_code'] is None and failed['history'][0]['error'].startswith('could not')
        retry = f'{HOOKS}/{made["id"]}/deliveries/{failed["id"]}/retry'
        assert (await api.send('POST', retry, {'acted_by': PERSON}, who='kiosk')).status_code == 403
        assert (await api.send('POST', f'{HOOKS}/{made["id"] + 1}/deliveries/{failed["id"]}/retry',
                               {'acted_by': PERSON})).status_code == 404
        # The receiver is reachable again (here: the operator fixed the address in the database).
        async with vigil.db.uow() as uow:
            from data.models import WebhookSubscription

            row = await uow.session.get(WebhookSubscription, made['id'])
            assert row is not None
            row.url = receiver.url
            await uow.commit()
        answer = await api.send('POST', retry, {'acted_by': PERSON})
        assert answer.status_code == 200 and answer.json()['status'] == 'pending'
        assert (await api.send('POST', retry, {'acted_by': PERSON})).status_code == 409
        await worker.tick()
    finally:
        await worker.stop()
    [request] = receiver.requests
    assert check_signature(made['secret'], request.headers, request.body)
    assert json.loads(request.body)['alert']['id'] == alert.json()['id']
