"""The MLLP listener inside a real server process: on with VIGIL_MLLP_PORT, and a SIGTERM in the middle of a stream
of HL7 messages ends the process with exit code 0 without losing a message it answered AA."""

import asyncio
import signal
import socket
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hl7.mllp import open_hl7_connection
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.bootstrap import build
from app.config import Settings
from data.models import Hospital, Patient, VitalReading
from tests.browser.harness import free_port
from tests.test_shutdown import StoppableServer

CLIENTS = 3
BEFORE_SIGNAL = 20  # AA answers per client before the signal goes out: the stop lands mid-stream
MAX_MESSAGES = 5000
LISTEN_TIMEOUT = 30.0


def pcd01(control_id: str, mrn: str, measured_at: datetime, heart_rate: int) -> bytes:
    stamp = measured_at.strftime('%Y%m%d%H%M%S.%f')[:-2] + '+0000'
    return '\r'.join((
        f'MSH|^~\\&|PIIC_GW^00096BFFFE8C3A12^EUI-64|GENERAL_AMU|VIGIL||{stamp}||ORU^R01^ORU_R01|{control_id}|P|2.6',
        f'PID|||{mrn}^^^GENERAL^MR',
        f'OBR|1|{control_id}|{control_id}|182777000^monitoring of patient^SCT|||{stamp}',
        f'OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.147842|{heart_rate}|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||'
        f'{stamp}')).encode()


def wait_for_listener(port: int) -> None:
    """Return once the listener accepts connections (it starts with the web server, just after /healthz may)."""
    deadline = time.monotonic() + LISTEN_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1.0):
                return
        except OSError:
            time.sleep(0.1)  # polling a port that is opening: there is no event to wait for
    pytest.fail(f'nothing listens on MLLP port {port} after {LISTEN_TIMEOUT:.0f} s')


async def setup(db_url: str) -> list[str]:
    """Register the sender to the demo's "general" hospital and return some of its MRNs."""
    vigil = build(Settings(database_url=db_url))
    try:
        await vigil.hl7_feeds.register(hospital_slug='general', application='PIIC_GW', facility='GENERAL_AMU')
    finally:
        await vigil.close()
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(Patient.mrn).join(Hospital, Hospital.id == Patient.hospital_id)
                .where(Hospital.slug == 'general').order_by(Patient.mrn).limit(CLIENTS))
            return [mrn for (mrn,) in rows]
    finally:
        await engine.dispose()


async def counts(db_url: str, mrns: list[str]) -> Counter[tuple[str, datetime]]:
    """Return how many readings from the sender each (MRN, measured at) has in the database."""
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(Patient.mrn, VitalReading.measured_at).join(Patient, Patient.id == VitalReading.patient_id)
                .where(Patient.mrn.in_(mrns), VitalReading.source == 'hl7:PIIC_GW^GENERAL_AMU'))
            return Counter((mrn, measured_at) for mrn, measured_at in rows)
    finally:
        await engine.dispose()


async def stored(db_url: str, mrns: list[str]) -> set[tuple[str, datetime]]:
    return set(await counts(db_url, mrns))


async def stream(port: int, mrn: str, start: datetime, acknowledged: set[tuple[str, datetime]],
                 enough: asyncio.Event, answers: list[str]) -> str:
    """Send messages one after the other on one connection until the server goes away; note each AA."""
    reader, writer = await open_hl7_connection('127.0.0.1', port)
    try:
        for index in range(MAX_MESSAGES):
            measured_at = start + timedelta(milliseconds=index * 100)
            try:
                writer.writeblock(pcd01(f'{mrn}-{index}', mrn, measured_at, 60 + index % 30))
                await writer.drain()
                ack = (await reader.readblock()).decode()
            except (asyncio.IncompleteReadError, ConnectionError) as error:
                return type(error).__name__
            code = ack.split('\r')[1].split('|')[1]
            answers.append(code)
            if code == 'AA':
                acknowledged.add((mrn, measured_at))
                if len(acknowledged) >= CLIENTS * BEFORE_SIGNAL:
                    enough.set()
        return 'never stopped'
    finally:
        writer.close()


async def test_a_stop_during_an_hl7_stream_exits_0_and_keeps_every_message_answered_aa(
        db_url: str, tmp_path: Path) -> None:
    port = free_port()
    server = StoppableServer(tmp_path / 'server', env={'VIGIL_DATABASE_URL': db_url, 'VIGIL_MLLP_PORT': str(port)})
    await asyncio.to_thread(server.start)
    try:
        mrns = await setup(db_url)
        await asyncio.to_thread(wait_for_listener, port)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        acknowledged: set[tuple[str, datetime]] = set()
        enough, answers = asyncio.Event(), []
        streams = [asyncio.create_task(stream(port, mrn, start, acknowledged, enough, answers)) for mrn in mrns]
        await asyncio.wait_for(enough.wait(), timeout=60)
        exit_code = await asyncio.to_thread(server.stop_with, signal.SIGTERM)
        endings = await asyncio.gather(*streams)
    finally:
        await asyncio.to_thread(server.stop)
    assert exit_code == 0, server.log_tail()
    assert 'never stopped' not in endings
    assert set(answers) <= {'AA', 'AR'}, answers  # AR only for a message the stop kept from being stored
    missing = acknowledged - await stored(db_url, mrns)
    assert not missing, f'{len(missing)} of {len(acknowledged)} messages answered AA are not in the database'
    log = server.log_path.read_text(errors='replace')
    assert 'HL7 v2 (MLLP) listener on 127.0.0.1:' in log
    # Every shutdown step ran (one that raises skips the rest, the database's close among them).
    assert 'Application shutdown failed' not in log and 'Traceback' not in log, server.log_tail()


def test_a_taken_mllp_port_stops_start_up_with_one_line(tmp_path: Path) -> None:
    from tests.test_cli import vigil_cli

    with socket.create_server(('127.0.0.1', 0)) as taken:
        port = taken.getsockname()[1]
        result = vigil_cli(tmp_path, VIGIL_MLLP_PORT=str(port), VIGIL_PORT=str(free_port()))
    assert result.returncode == 1, result.stderr
    assert f'vigil: cannot listen for HL7 v2 (VIGIL_MLLP_PORT) on 127.0.0.1:{port}: ' in result.stderr
    assert 'Traceback' not in result.stderr


async def resend(port: int, mrn: str, start: datetime, sent: int) -> list[str]:
    """Send a client's messages 0..sent-1 again, as a gateway does after a lost connection; return the ACK codes."""
    reader, writer = await open_hl7_connection('127.0.0.1', port)
    codes = []
    try:
        for index in range(sent):
            writer.writeblock(pcd01(f'{mrn}-{index}', mrn, start + timedelta(milliseconds=index * 100),
                                    60 + index % 30))
            await writer.drain()
            codes.append((await reader.readblock()).decode().split('\r')[1].split('|')[1])
    finally:
        writer.close()
    return codes


async def test_a_server_killed_mid_stream_stores_each_message_once_when_the_senders_send_everything_again(
        db_url: str, tmp_path: Path) -> None:
    """SIGKILL lands between messages, between a commit and its ACK, or mid-write: whatever was in flight, a sender
    that sends every message again (those answered AA, and the one that got no answer) gets AA for each, and the
    database holds each reading exactly once, by the message control id."""
    port = free_port()
    env = {'VIGIL_DATABASE_URL': db_url, 'VIGIL_MLLP_PORT': str(port)}
    server = StoppableServer(tmp_path / 'first', env=env)
    await asyncio.to_thread(server.start)
    try:
        mrns = await setup(db_url)
        await asyncio.to_thread(wait_for_listener, port)
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        acknowledged: set[tuple[str, datetime]] = set()
        enough, answers = asyncio.Event(), []
        streams = [asyncio.create_task(stream(port, mrn, start, acknowledged, enough, answers)) for mrn in mrns]
        await asyncio.wait_for(enough.wait(), timeout=60)
        await asyncio.to_thread(server.stop_with, signal.SIGKILL)
        endings = await asyncio.gather(*streams)
    finally:
        await asyncio.to_thread(server.stop)
    assert 'never stopped' not in endings
    before = await counts(db_url, mrns)
    # Every client sends again up to and including the message that got no answer (it may have been stored).
    answered = {mrn: [i for i in range(MAX_MESSAGES) if (mrn, start + timedelta(milliseconds=i * 100)) in acknowledged]
                for mrn in mrns}
    sent = {mrn: (max(indexes) + 2 if indexes else 1) for mrn, indexes in answered.items()}
    again = StoppableServer(tmp_path / 'second', env=env)
    await asyncio.to_thread(again.start)
    try:
        await asyncio.to_thread(wait_for_listener, port)
        codes = await asyncio.gather(*(resend(port, mrn, start, sent[mrn]) for mrn in mrns))
    finally:
        await asyncio.to_thread(again.stop)
    assert all(code == 'AA' for each in codes for code in each), codes
    after = await counts(db_url, mrns)
    assert all(before.get(key, 0) <= 1 for key in before), 'a message was stored twice before the kill'
    assert set(after.values()) == {1}, {key: n for key, n in after.items() if n != 1}
    expected = {(mrn, start + timedelta(milliseconds=i * 100)) for mrn in mrns for i in range(sent[mrn])}
    assert set(after) == expected
    assert acknowledged <= set(before), 'a message answered AA before the kill was lost'
