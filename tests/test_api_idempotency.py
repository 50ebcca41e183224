"""Idempotency-Key: a device that retries after a timeout gets the first answer again and nothing is written twice,
also when the retry arrives while the first request is still running."""

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
from sqlalchemy import event

from app.bootstrap import Vigil
from app.domain import TokenKind
from app.schemas import VitalReadingIn
from app.services.idempotency import AlreadyAnswered, IdempotencyService, StoredResponse, request_fingerprint

from .api_support import Api, counts, open_api, reading
from .conftest import FakeClock, World

KEY = {'Idempotency-Key': 'monitor-7/2026-03-02T07:59:00Z/1'}


@pytest.fixture
async def api(vigil: Vigil, world: World) -> AsyncIterator[Api]:
    async with open_api(vigil) as api:
        yield api


async def test_a_retried_batch_is_stored_once_and_answered_the_same(api: Api, vigil: Vigil) -> None:
    batch = [reading(), reading(kind='spo2', value=94, unit='%')]
    first = await api.post('/api/v1/vitals', batch, headers=KEY)
    after_first = await counts(vigil)

    retry = await api.post('/api/v1/vitals', batch, headers=KEY)

    assert (first.status_code, first.json()) == (retry.status_code, retry.json()) == (
        201, {'accepted': 2, 'history_only': []})
    assert 'Idempotent-Replayed' not in first.headers
    assert retry.headers['Idempotent-Replayed'] == 'true'
    assert await counts(vigil) == after_first
    assert after_first['VitalReading'] == 2
    assert after_first['IdempotencyKey'] == 1


async def test_the_same_key_with_another_body_is_refused(api: Api, vigil: Vigil) -> None:
    await api.post('/api/v1/vitals', reading(), headers=KEY)
    before = await counts(vigil)

    response = await api.post('/api/v1/vitals', reading(value=140), headers=KEY)

    assert response.status_code == 422
    assert 'was already used for a different request' in response.json()['detail']
    assert await counts(vigil) == before


async def test_the_same_json_spelled_differently_is_the_same_request(api: Api, vigil: Vigil) -> None:
    # Reproduced: the same JSON with other whitespace got 422 ("already used for a different request").
    batch = [reading(), reading(kind='spo2', value=94, unit='%')]
    compact = json.dumps(batch, separators=(',', ':'))
    spaced = json.dumps([dict(reversed(list(r.items()))) for r in batch], indent=2)
    headers = {**KEY, 'Content-Type': 'application/json'}
    first = await api.post('/api/v1/vitals', content=compact, headers=headers)
    after_first = await counts(vigil)

    retry = await api.post('/api/v1/vitals', content=spaced, headers=headers)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.headers['Idempotent-Replayed'] == 'true'
    assert await counts(vigil) == after_first
    assert after_first['VitalReading'] == 2


def test_the_fingerprint_counts_meaning_for_json_and_bytes_for_anything_else() -> None:
    same = request_fingerprint('post', '/api/v1/vitals', b'{"a": 1, "b": [1, 2]}')
    assert same == request_fingerprint('POST', '/api/v1/vitals', b'{"b":[1,2],"a":1}')
    assert same != request_fingerprint('POST', '/api/v1/vitals', b'{"b":[2,1],"a":1}')
    assert same != request_fingerprint('POST', '/api/v1/other', b'{"a": 1, "b": [1, 2]}')
    assert request_fingerprint('POST', '/x', b'not json ') != request_fingerprint('POST', '/x', b'not json')
    deep = b'[' * 100_000 + b']' * 100_000  # too deep for the parser: compared as bytes, never an error
    assert request_fingerprint('POST', '/x', deep) == request_fingerprint('POST', '/x', deep)


async def test_keys_belong_to_one_token(api: Api, vigil: Vigil) -> None:
    assert (await api.post('/api/v1/vitals', reading(), headers=KEY)).status_code == 201
    other = await api.post('/api/v1/vitals', reading(), headers=KEY, who='integration')

    assert other.status_code == 201
    assert 'Idempotent-Replayed' not in other.headers
    assert (await counts(vigil))['VitalReading'] == 2


async def test_a_refused_request_stores_no_answer_so_a_fixed_retry_goes_through(api: Api, vigil: Vigil) -> None:
    refused = await api.post('/api/v1/vitals', reading(mrn='nobody'), headers=KEY)
    assert refused.status_code == 422
    assert (await counts(vigil))['IdempotencyKey'] == 0

    retried = await api.post('/api/v1/vitals', reading(mrn='nobody'), headers=KEY)

    assert retried.status_code == 422


@pytest.mark.parametrize('key', ['', ' ', 'k' * 201, 'tab\there'])
async def test_an_unusable_key_is_refused(api: Api, vigil: Vigil, key: str) -> None:
    response = await api.post('/api/v1/vitals', reading(), headers={'Idempotency-Key': key})

    assert response.status_code == 422
    assert 'An Idempotency-Key has 1-200 printable characters.' in response.json()['detail']
    assert (await counts(vigil))['VitalReading'] == 0


async def test_keys_expire_after_a_day(api: Api, vigil: Vigil, clock: FakeClock) -> None:
    await api.post('/api/v1/vitals', reading(), headers=KEY)
    clock.advance(hours=24, seconds=1)

    again = await api.post('/api/v1/vitals', reading(at=clock().isoformat()), headers=KEY)

    assert again.status_code == 201
    assert 'Idempotent-Replayed' not in again.headers
    assert (await counts(vigil))['VitalReading'] == 2
    assert (await counts(vigil))['IdempotencyKey'] == 1  # the expired record made way


async def test_expired_keys_are_purged(vigil: Vigil, world: World, api: Api, clock: FakeClock) -> None:
    await api.post('/api/v1/vitals', reading(), headers=KEY)
    clock.advance(hours=25)

    assert await IdempotencyService(vigil.db, vigil.clock).purge_expired() == 1
    assert (await counts(vigil))['IdempotencyKey'] == 0


async def test_a_retried_alert_is_raised_once(api: Api, vigil: Vigil) -> None:
    body = {'ward': 'North', 'priority': 'high', 'message': 'Door alarm', 'dedup_key': 'door-2'}
    first = await api.post('/api/v1/alerts', body, headers=KEY)
    retry = await api.post('/api/v1/alerts', body, headers=KEY)

    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.json()['occurrences'] == 1  # without the key, the retry would have counted a second occurrence
    assert (await counts(vigil))['Alert'] == 1


async def test_a_retried_acknowledgement_is_answered_like_the_first(api: Api, vigil: Vigil) -> None:
    alert = (await api.post('/api/v1/alerts', {'ward': 'North', 'priority': 'high', 'message': 'x'})).json()
    path = f'/api/v1/alerts/{alert["id"]}/acknowledge'
    first = await api.post(path, {'acted_by': 'Dr Roe'}, who='integration', headers=KEY)

    retry = await api.post(path, {'acted_by': 'Dr Roe'}, who='integration', headers=KEY)
    unkeyed = await api.post(path, {'acted_by': 'Dr Roe'}, who='integration')

    assert (first.status_code, retry.status_code, unkeyed.status_code) == (200, 200, 409)
    assert retry.json() == first.json()
    assert (await counts(vigil))['AlertEvent'] == 2  # raised, acknowledged once


async def test_concurrent_duplicates_write_once_and_get_the_same_answer(
        api: Api, vigil: Vigil, monkeypatch: pytest.MonkeyPatch) -> None:
    # Both requests find the key free before either commits: the database's primary key must decide. Readings look
    # their key up in the write transaction (the two may share one, see the shared-transaction test below); lookup()
    # is held here for a request that looks it up first.
    looked_up = 0
    both_looked = asyncio.Event()
    lookup = IdempotencyService.lookup

    async def lookup_together(self: IdempotencyService, *args: Any) -> StoredResponse | None:
        nonlocal looked_up
        found = await lookup(self, *args)
        looked_up += 1
        if looked_up == 2:
            both_looked.set()
        await asyncio.wait_for(both_looked.wait(), timeout=10)
        return found

    monkeypatch.setattr(IdempotencyService, 'lookup', lookup_together)
    batch = [reading(), reading(kind='resp_rate', value=18)]

    first, second = await asyncio.gather(*(api.post('/api/v1/vitals', batch, headers=KEY) for _ in range(2)))

    assert first.json() == second.json() == {'accepted': 2, 'history_only': []}
    assert {first.status_code, second.status_code} == {201}
    assert sorted(r.headers.get('Idempotent-Replayed', '') for r in (first, second)) == ['', 'true']
    after = await counts(vigil)
    assert (after['VitalReading'], after['IdempotencyKey']) == (2, 1)
    assert after['EventLogEntry'] == 1  # one VitalsRecorded: the loser's transaction rolled back whole


async def test_a_keyed_batch_looks_its_key_up_in_its_write_transaction(api: Api, vigil: Vigil) -> None:
    # No read transaction of its own before the write: the key is looked up where the readings are written (and,
    # found free, needs no DELETE of an expired record).
    transactions: dict[str, list[Any]] = {'lookup': [], 'write': [], 'delete': []}

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        text = ' '.join(statement.split()).upper()
        if text.startswith('SELECT') and 'FROM IDEMPOTENCY_KEYS' in text:
            transactions['lookup'].append(conn.get_transaction())
        elif text.startswith('INSERT INTO VITAL_READINGS'):
            transactions['write'].append(conn.get_transaction())
        elif text.startswith('DELETE FROM IDEMPOTENCY_KEYS') and 'TOKEN_ID' in text:  # not the purge of expired keys
            transactions['delete'].append(conn.get_transaction())

    event.listen(vigil.engine.sync_engine, 'before_cursor_execute', seen)
    try:
        response = await api.post('/api/v1/vitals', [reading(), reading(kind='resp_rate', value=18)], headers=KEY)
    finally:
        event.remove(vigil.engine.sync_engine, 'before_cursor_execute', seen)

    assert response.status_code == 201
    assert len(transactions['lookup']) == len(transactions['write']) == 1
    assert transactions['lookup'][0] is transactions['write'][0]
    assert not transactions['delete']


async def test_a_used_key_with_a_bad_body_is_refused_for_the_key(api: Api, vigil: Vigil) -> None:
    # The key's use comes first, as when it was looked up before the body was read.
    await api.post('/api/v1/vitals', reading(), headers=KEY)
    before = await counts(vigil)

    for body in (reading(kind='pulse'), reading(mrn='nobody')):
        response = await api.post('/api/v1/vitals', body, headers=KEY)

        assert response.status_code == 422
        assert 'was already used for a different request' in response.json()['detail']
    assert await counts(vigil) == before


async def test_duplicates_in_one_shared_transaction_write_once_and_the_second_gets_the_first_answer(
        vigil: Vigil, world: World, clock: FakeClock) -> None:
    service = IdempotencyService(vigil.db, clock)
    created = await vigil.tokens.create(hospital_slug='alpha', kind=TokenKind.DEVICE, name='monitor')
    actor = await vigil.tokens.verify(created.secret)
    readings = [VitalReadingIn(patient_mrn='alpha-North-1', kind='heart_rate', value=88, unit='/min',
                               measured_at=clock())]

    def respond(events: Sequence[Any]) -> StoredResponse | None:
        return StoredResponse(status_code=201, body={'events': len(events)}) if events else None

    async def send() -> StoredResponse | None:
        assert actor.token_id is not None
        with service.recording(token_id=actor.token_id, hospital_id=world.a.hospital_id, key='k', request_hash='h',
                               respond=respond, look_up_in_write=True) as pending:
            await vigil.patients.record_vitals(actor, readings)
        return pending.stored

    commits = vigil.patients.shared_commits
    first, second = await asyncio.gather(send(), send(), return_exceptions=True)

    assert isinstance(first, StoredResponse)
    assert isinstance(second, AlreadyAnswered) and second.stored == first
    # Together they failed on the key's primary key, then each was written alone.
    assert vigil.patients.shared_commits == commits + 1
    after = await counts(vigil)
    assert (after['VitalReading'], after['IdempotencyKey']) == (1, 1)
