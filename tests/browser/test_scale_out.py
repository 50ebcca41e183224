"""Two Vigil processes on one PostgreSQL database and one Redis, directly and behind the sample nginx configuration.

What a hospital group sees: a page on one process follows what a device posts to the other and what a colleague
does on the other, and an unanswered alert escalates exactly once per level although both processes watch for it.
"""

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import make_url

from ..conftest import POSTGRES_URL, REDIS_URL, _pg_dsn, run_sync, unavailable
from .conftest import OpenAs
from .harness import VigilServer
from .nginx import Nginx, nginx_path
from .test_live_ui import alert_row, connection

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis]

# Escalation steps of a high alert by default: 5 and 15 minutes after raising. Moving an alert's times back by
# more than the last step makes both steps due at once, as if nobody had answered for 20 minutes.
HIGH_STEPS = 2
ALERT_AGE = timedelta(minutes=20)


@pytest.fixture(scope='module')
def database() -> Iterator[str]:
    """An empty PostgreSQL database of this module (migrated by the first server), dropped at the end."""
    # The name follows conftest's pattern, so a run killed before its clean-up is tidied by the next one.
    name = f'vigil_test_{os.getpid()}_{uuid.uuid4().hex[:8]}_scale'

    async def execute(statement: str) -> None:
        connection = await asyncpg.connect(_pg_dsn(POSTGRES_URL), timeout=5)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    try:
        run_sync(lambda: execute(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as error:
        unavailable(f'PostgreSQL at {make_url(POSTGRES_URL).host}:{make_url(POSTGRES_URL).port} unreachable: {error}')
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    run_sync(lambda: execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope='module')
def servers(database: str, redis_run_prefix: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[tuple[VigilServer, VigilServer]]:
    """Processes A and B of one installation: same database, Redis, key prefix and storage secret."""
    shared = {'VIGIL_DATABASE_URL': database, 'VIGIL_REDIS_URL': REDIS_URL,
              # Inside the run's prefix, whose keys conftest deletes at the end of the run.
              'VIGIL_REDIS_PREFIX': f'{redis_run_prefix}-scale',
              # Both watchdogs look for due escalations five times a second: they race for every one.
              'VIGIL_WATCHDOG_SECONDS': '0.2'}
    a = VigilServer(tmp_path_factory.mktemp('vigil-a'), env=shared)
    b = VigilServer(tmp_path_factory.mktemp('vigil-b'), env=shared)
    try:
        a.start()  # migrates and seeds the demo first; B then finds everything in place
        b.start()
        yield a, b
    finally:
        b.stop()
        a.stop()


@pytest.fixture(scope='module')
def nginx(servers: tuple[VigilServer, VigilServer], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    """The sample nginx configuration in front of A and B."""
    if nginx_path() is None:
        unavailable('nginx is not installed (apt-get install nginx)')
    proxy = Nginx(tmp_path_factory.mktemp('nginx'), [f'127.0.0.1:{s.port}' for s in servers])
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope='module')
def integration_token(servers: tuple[VigilServer, VigilServer]) -> str:
    return servers[0].create_token('integration', 'Scale-out test gateway')


def audit(server: VigilServer, token: str, alert_id: int) -> list[dict[str, Any]]:
    with server.api(token) as client:
        response = client.get(f'/api/v1/alerts/{alert_id}/audit')
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


def age(database: str, alert_id: int, by: timedelta) -> None:
    """Move an alert's raise and escalation times back, as if that much time had passed unanswered."""
    async def update() -> None:
        connection = await asyncpg.connect(_pg_dsn(database), timeout=5)
        try:
            await connection.execute('UPDATE alerts SET created_at = created_at - $2::interval, next_escalation_at '
                                     '= next_escalation_at - $2::interval WHERE id = $1', alert_id, by)
        finally:
            await connection.close()

    run_sync(update)


def test_a_page_on_one_process_follows_an_alert_posted_to_the_other_and_its_acknowledgement_reaches_both(
        servers: tuple[VigilServer, VigilServer], open_as: OpenAs, integration_token: str) -> None:
    a, b = servers
    charge_on_a = open_as(a, 'charge')
    doctor_on_b = open_as(b, 'doctor')
    for page in (charge_on_a, doctor_on_b):
        expect(connection(page)).to_have_text('Live')

    posted = b.post_alert(integration_token, patient_mrn='G100103', priority='high',
                          message='Pump occlusion posted to process B')

    row_on_a = alert_row(charge_on_a, 'Priya Raman', 'Pump occlusion posted to process B')
    expect(row_on_a).to_contain_text('Active')
    expect(alert_row(doctor_on_b, 'Priya Raman', 'Pump occlusion posted to process B')).to_contain_text('Active')

    row_on_a.get_by_role('button', name='Acknowledge').click()

    expect(alert_row(doctor_on_b, 'Pump occlusion posted to process B')).to_contain_text('Acknowledged by')
    expect(row_on_a).to_contain_text('Acknowledged by')
    acknowledgements = [e for e in audit(a, integration_token, posted['id']) if e['type'] == 'acknowledged']
    assert len(acknowledgements) == 1, acknowledgements


def test_an_unanswered_alert_escalates_exactly_once_per_level_across_both_processes(
        servers: tuple[VigilServer, VigilServer], database: str, open_as: OpenAs, integration_token: str) -> None:
    a, b = servers
    doctor_on_a = open_as(a, 'doctor')
    expect(connection(doctor_on_a)).to_have_text('Live')
    posted = b.post_alert(integration_token, patient_mrn='G100105', priority='high',
                          message='Nobody answers this one')
    row = alert_row(doctor_on_a, 'Nobody answers this one')
    expect(row).to_contain_text('Active')

    age(database, posted['id'], ALERT_AGE)  # both watchdogs now find both steps due

    expect(row).to_contain_text(f'Escalated · level {HIGH_STEPS}')
    levels = [e['escalation_level'] for e in audit(b, integration_token, posted['id']) if e['type'] == 'escalated']
    assert levels == list(range(1, HIGH_STEPS + 1)), f'escalations by level: {levels}'
    with a.api(integration_token) as client:
        assert client.get(f'/api/v1/alerts/{posted["id"]}').json()['escalation_level'] == HIGH_STEPS


def test_behind_the_sample_nginx_a_browser_stays_on_its_process_and_follows_the_other(
        servers: tuple[VigilServer, VigilServer], nginx: Nginx, open_as: OpenAs, integration_token: str) -> None:
    by_address = {f'127.0.0.1:{s.port}': s for s in servers}
    charge: Page = open_as(nginx.url, 'charge')  # OpenAs signs in at a URL as well as at a server
    expect(connection(charge)).to_have_text('Live')
    served = {upstream for method, path, _, upstream in nginx.requests() if method == 'GET' and path == '/'}
    assert len(served) == 1 and served <= set(by_address), f'the dashboard was served by {served}'
    own = by_address[served.pop()]
    other = next(s for s in servers if s is not own)
    doctor_on_other = open_as(other, 'doctor')
    expect(connection(doctor_on_other)).to_have_text('Live')

    other.post_alert(integration_token, patient_mrn='G100104', priority='high', message='Posted past the proxy')

    row = alert_row(charge, 'Posted past the proxy')
    expect(row).to_contain_text('Active')
    row.get_by_role('button', name='Acknowledge').click()
    expect(alert_row(doctor_on_other, 'Posted past the proxy')).to_contain_text('Acknowledged by')

    # Sticky: every request of this browser, the page's live socket included, reached the same process.
    requests = nginx.requests()
    assert {upstream for *_, upstream in requests} == {f'127.0.0.1:{own.port}'}, requests
    sockets = [r for r in requests if r[1].startswith('/_nicegui_ws/')]
    assert any(status == 101 for _, _, status, _ in sockets), f'no WebSocket upgrade through nginx: {sockets}'


def test_behind_the_sample_nginx_the_event_stream_flows_and_metrics_stay_private(
        servers: tuple[VigilServer, VigilServer], nginx: Nginx, integration_token: str) -> None:
    headers = {'Authorization': f'Bearer {integration_token}'}
    stamp = f'streamed-{uuid.uuid4().hex[:8]}'
    with httpx.Client(base_url=nginx.url, headers=headers, timeout=15.0) as client:
        assert client.get('/metrics').status_code == 403
        with client.stream('GET', '/api/v1/events', params={'type': 'AlertRaised'}) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines()
            assert next(lines).startswith(':')  # the stream's opening comment came through before any event
            servers[1].post_alert(integration_token, patient_mrn='G100106', priority='medium', message=stamp)
            received = next(line for line in lines if stamp in line)
    assert received.startswith('data:')
