"""Two real server processes on one database, each running its webhook worker: every alert event reaches the
receiver on 127.0.0.1 exactly once (on SQLite and PostgreSQL)."""

import json
import time
from pathlib import Path

import pytest

from .browser.harness import VigilServer
from .webhook_receiver import running_receiver

pytestmark = pytest.mark.slow
ALERTS = 12
WAIT_SECONDS = 60.0


def deliveries(server: VigilServer, token: str, webhook_id: int) -> list[dict[str, object]]:
    with server.api(token) as client:
        answer = client.get(f'/api/v1/webhooks/{webhook_id}/deliveries', params={'limit': 500})
    answer.raise_for_status()
    result: list[dict[str, object]] = answer.json()
    return result


def test_two_server_processes_deliver_each_event_once(db_url: str, tmp_path: Path) -> None:
    shared = {'VIGIL_DATABASE_URL': db_url}
    one = VigilServer(tmp_path / 'one', env=shared)
    two = VigilServer(tmp_path / 'two', env=shared)
    with running_receiver() as receiver:
        one.start()
        try:
            two.start()
            try:
                token = one.create_token('integration', 'webhook test')
                with one.api(token) as client:
                    made = client.post('/api/v1/webhooks', json={
                        'name': 'Pager', 'url': receiver.url, 'event_types': ['alert.raised'],
                        'acted_by': 'Dr Jane Roe'})
                assert made.status_code == 201, made.text
                webhook = made.json()
                receiver.answer(503, 503)  # two attempts fail: their retries are claimed like the rest
                for number in range(ALERTS):
                    server = one if number % 2 else two
                    server.post_alert(token, ward='Acute Medical Unit', priority='high',
                                      message=f'Pump occlusion {number}', dedup_key=f'pump-{number}')
                # Waiting for two other processes' background work: poll until every delivery is finished.
                deadline = time.monotonic() + WAIT_SECONDS
                while time.monotonic() < deadline:
                    rows = deliveries(two, token, webhook['id'])
                    if len(rows) == ALERTS and all(r['status'] == 'delivered' for r in rows):
                        break
                    time.sleep(0.5)
                rows = deliveries(one, token, webhook['id'])
            finally:
                two.stop()
        finally:
            one.stop()
    assert [r['status'] for r in rows] == ['delivered'] * ALERTS, f'{rows}\n{one.log_tail()}\n{two.log_tail()}'
    received = [json.loads(r.body) for r in receiver.requests]
    ok = [body['id'] for body, status in zip(received, [503, 503] + [200] * len(received), strict=False)
          if status == 200]
    assert len(receiver.requests) == ALERTS + 2
    assert len(set(ok)) == ALERTS == len(ok)  # each event once, after the two failed attempts
    assert sum(int(str(r['attempts'])) for r in rows) == ALERTS + 2
    assert {body['alert']['message'] for body in received} == {f'Pump occlusion {n}' for n in range(ALERTS)}
