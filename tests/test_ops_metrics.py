"""/metrics as Prometheus reads it, and /readyz as a load balancer or orchestrator reads it, on the served demo."""

from datetime import UTC, datetime, timedelta

import pytest
from nicegui import app as nicegui_app
from nicegui.testing import User
from prometheus_client.parser import text_string_to_metric_families

from app.bootstrap import Vigil
from app.domain import Priority, TokenKind
from app.schemas import Actor, NewAlert

from .test_ui_dashboard import sign_in

pytestmark = pytest.mark.usefixtures('quiet_demo')

EXPECTED = {'vigil_ui_sessions', 'vigil_events_published', 'vigil_events_delivered', 'vigil_event_delivery_seconds',
            'vigil_readings_ingested', 'vigil_alerts', 'vigil_escalations', 'vigil_http_request_duration_seconds'}


def running() -> Vigil:
    vigil: Vigil = nicegui_app.state.vigil
    return vigil


async def scrape(user: User) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Fetch /metrics, parse it with prometheus_client's own parser and return {(sample, labels): value}."""
    response = await user.http_client.get('/metrics')
    assert response.status_code == 200
    assert response.headers['content-type'].startswith('text/plain; version=0.0.4')
    families = list(text_string_to_metric_families(response.text))
    assert {family.name for family in families} >= EXPECTED
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in families for s in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_follow_readings_alerts_escalations_sessions_and_requests(user: User) -> None:
    vigil = running()
    general = await vigil.hospitals.get('general')
    clerk = Actor.system('ward clerk', hospital_id=general.id)
    before = await scrape(user)
    assert value(before, 'vigil_ui_sessions', hospital_id=str(general.id)) == 0

    await sign_in(user, 'nurse')
    device = (await vigil.tokens.create(hospital_slug='general', kind=TokenKind.DEVICE, name='metrics gw')).secret
    mrn = (await vigil.patients.list_patients(clerk))[0].mrn
    now = datetime.now(UTC).isoformat()
    readings = [{'patient_mrn': mrn, 'kind': kind, 'value': v, 'unit': unit, 'measured_at': now}
                for kind, v, unit in (('heart_rate', 80, '/min'), ('resp_rate', 16, '/min'), ('spo2', 97, '%'))]
    response = await user.http_client.post('/api/v1/vitals', json=readings,
                                           headers={'Authorization': f'Bearer {device}'})
    assert response.status_code == 201, response.text
    patients = await vigil.patients.list_patients(clerk)
    raised = await vigil.alerts.raise_alert(clerk, NewAlert(priority=Priority.HIGH, message='metrics check',
                                                            patient_id=patients[1].id))
    await vigil.alerts.acknowledge(clerk, raised.id)
    second = await vigil.alerts.raise_alert(clerk, NewAlert(priority=Priority.CRITICAL, message='nobody answers',
                                                            patient_id=patients[2].id))
    escalated = await vigil.alerts.escalate_due(now=datetime.now(UTC) + timedelta(hours=1))
    assert second.id in {a.id for a in escalated}
    await vigil.bus.drain()

    after = await scrape(user)
    assert value(after, 'vigil_ui_sessions', hospital_id=str(general.id)) == 1  # the nurse's dashboard
    assert value(after, 'vigil_readings_ingested_total') - value(before, 'vigil_readings_ingested_total') == 3
    assert value(after, 'vigil_alerts', status='acknowledged', priority='high') == \
        value(before, 'vigil_alerts', status='acknowledged', priority='high') + 1
    for event_type in ('AlertRaised', 'AlertAcknowledged', 'AlertEscalated', 'VitalsRecorded'):
        assert value(after, 'vigil_events_published_total', type=event_type) > \
            value(before, 'vigil_events_published_total', type=event_type), event_type
    assert value(after, 'vigil_escalations_total') - value(before, 'vigil_escalations_total') == len(escalated)
    assert value(after, 'vigil_events_delivered_total') > value(before, 'vigil_events_delivered_total')
    assert value(after, 'vigil_event_delivery_seconds_count') > value(before, 'vigil_event_delivery_seconds_count')
    # Requests are labelled by route template and status class, never by raw path.
    assert value(after, 'vigil_http_request_duration_seconds_count',
                 method='POST', route='/api/v1/vitals', status='2xx') == 1
    routes = {dict(labels)['route'] for name, labels in after if name == 'vigil_http_request_duration_seconds_count'}
    assert '/login' in routes  # the sign-in page, by its template
    assert not [r for r in routes if any(part.isdigit() for part in r.split('/'))], routes


async def test_readyz_answers_ready_with_each_check(user: User) -> None:
    response = await user.http_client.get('/readyz')
    assert response.status_code == 200
    assert response.json() == {'status': 'ready', 'checks': {'database': 'ok', 'redis': 'not configured'}}
    assert (await user.http_client.get('/healthz')).json() == {'status': 'ok'}


async def test_pages_opened_and_closed_are_logged_with_their_tags(user: User, caplog: pytest.LogCaptureFixture) -> None:
    await sign_in(user, 'nurse')
    opened = [r for r in caplog.records if getattr(r, 'event', None) == 'connection.opened']
    assert [(r.role, r.page) for r in opened] == [('Nurse', 'dashboard')]  # type: ignore[attr-defined]
    client = user.client
    assert client is not None
    client.delete()  # the nurse closed the tab
    closed = [r for r in caplog.records if getattr(r, 'event', None) == 'connection.closed']
    assert [r.client_id for r in closed] == [opened[0].client_id]  # type: ignore[attr-defined]
