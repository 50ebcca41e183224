"""Logs as operators read them: one JSON object per line with VIGIL_LOG_FORMAT=json, and the event tags they grep
for (server start and stop, pages opened and closed, every alert transition), never a patient's details."""

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.config import LogFormat, LogLevel
from app.events import AlertRaised
from app.observability.alert_log import log_alert_transition
from app.observability.logs import configure_logging

from .browser.harness import VigilServer
from .test_events import sample_alert


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers (pytest's too): put them back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def raised_event() -> AlertRaised:
    alert = sample_alert(hospital_id=2, alert_id=41, message='Mrs Example: SpO2 84 %')
    return AlertRaised(hospital_id=2, ward_id=alert.ward_id, seq=9, occurred_at=datetime.now(UTC),
                       actor='AMU monitor gateway', alert=alert)


@pytest.mark.usefixtures('restore_logging')
def test_json_format_writes_one_object_per_line_with_the_event_tag(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogLevel.INFO, LogFormat.JSON)
    log_alert_transition(raised_event())
    logging.getLogger('vigil.test').warning('two\nlines', extra={'event': 'test.multiline'})

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    alert_line, multiline = (json.loads(line) for line in lines)
    assert alert_line['event'] == 'alert.raised'
    assert alert_line['level'] == 'INFO' and alert_line['logger'] == 'vigil.alerts'
    assert (alert_line['alert_id'], alert_line['hospital_id'], alert_line['seq']) == (41, 2, 9)
    assert alert_line['actor'] == 'AMU monitor gateway'
    assert datetime.fromisoformat(alert_line['timestamp']).utcoffset() is not None
    for private in ('Mrs Example', 'SpO2', 'Patient North-1', 'alpha-North-1'):  # message, patient name, MRN
        assert private not in lines[0]
    assert multiline['message'] == 'two\nlines' and multiline['event'] == 'test.multiline'


@pytest.mark.usefixtures('restore_logging')
def test_text_format_appends_the_tag_and_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogLevel.INFO, LogFormat.TEXT)
    log_alert_transition(raised_event())
    line = capsys.readouterr().err.strip()
    assert ' INFO vigil.alerts: alert 41 raised: ' in line
    assert '[alert.raised]' in line and 'alert_id=41' in line


@pytest.mark.usefixtures('restore_logging')
def test_a_text_line_stays_one_line_whatever_its_message_and_fields_carry(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(LogLevel.INFO, LogFormat.TEXT)
    forged = 'Eve\n2026-03-02 08:01:00,000 INFO vigil.alerts: alert 41 resolved [alert.resolved]'
    logging.getLogger('vigil.test').info('acknowledged by %s', forged, extra={
        'event': 'alert.acknowledged', 'actor': forged, 'note': 'a\rb\x1b[2Kc\u2028d', 'plain': 'x'})
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].endswith('acknowledged by Eve\\n2026-03-02 08:01:00,000 INFO vigil.alerts: alert 41 resolved '
                             '[alert.resolved] [alert.acknowledged] actor="Eve\\n2026-03-02 08:01:00,000 INFO '
                             'vigil.alerts: alert 41 resolved [alert.resolved]" note="a\\rb\\u001b[2Kc\\u2028d" '
                             'plain=x')


def test_a_real_server_with_json_logs_writes_only_json_and_tags_each_step(tmp_path: Path) -> None:
    server = VigilServer(tmp_path, env={'VIGIL_LOG_FORMAT': 'json'})
    server.start()
    try:
        token = server.create_token('integration', 'Nurse call system')
        alert = server.post_alert(token, priority='high', message='Bed 4 call', ward_id=1)
        with server.api(token) as client:
            for action in ('acknowledge', 'resolve'):
                response = client.post(f'/api/v1/alerts/{alert["id"]}/{action}', json={'acted_by': 'Nurse Ada'})
                assert response.status_code == 200, response.text
    finally:
        server.stop()

    records = []
    for line in server.log_path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            pytest.fail(f'a log line is not JSON: {line!r}')
    assert all(isinstance(r, dict) and {'timestamp', 'level', 'logger', 'message'} <= r.keys() for r in records)
    tags = [r.get('event') for r in records]
    for tag in ('server.start', 'alert.raised', 'alert.acknowledged', 'alert.resolved', 'server.stop'):
        assert tag in tags, (tag, tags)
    start = records[tags.index('server.start')]
    assert (start['port'], start['database'], start['bus']) == (server.port, 'sqlite', 'memory')
    assert [r['alert_id'] for r in records if r.get('event') == 'alert.acknowledged'] == [alert['id']]
