"""Stopping a real server process: SIGTERM or Ctrl+C during ingest ends it with exit code 0 and loses nothing."""

import asyncio
import signal
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.lifecycle import GracefulStop
from data.models import Hospital, Patient, VitalReading
from tests.browser.harness import VigilServer

CLIENTS = 4
# Successful readings each client has before the signal goes out: the stop lands in the middle of the stream.
BEFORE_SIGNAL = 25
# Upper bound of posts per client, so a server that never stops cannot hang the test.
MAX_POSTS = 5000
# The process ends within the stop's own bound; this margin only absorbs a loaded test machine's scheduling.
EXIT_MARGIN_SECONDS = 5.0


class StoppableServer(VigilServer):
    """A server this test stops by hand, with the signal of its choice."""

    def stop_with(self, sig: signal.Signals) -> int:
        """Send the signal and return the exit code; fail when the process outlives the shutdown bound."""
        process = self._process
        assert process is not None
        process.send_signal(sig)
        try:
            return process.wait(timeout=GracefulStop().bound_seconds + EXIT_MARGIN_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f'the server outlived its shutdown bound after {sig.name}:\n{self.log_tail()}')
        finally:
            self._process = None


@pytest.fixture
async def server(db_url: str, tmp_path: Path) -> StoppableServer:
    """The demo (quiet) served from this test's own database, SQLite or PostgreSQL."""
    server = StoppableServer(tmp_path / 'server', env={'VIGIL_DATABASE_URL': db_url})
    await asyncio.to_thread(server.start)
    yield server
    await asyncio.to_thread(server.stop)


async def general_mrns(db_url: str) -> list[str]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(Patient.mrn).join(Hospital, Hospital.id == Patient.hospital_id)
                .where(Hospital.slug == 'general').order_by(Patient.mrn).limit(CLIENTS))
            return [mrn for (mrn,) in rows]
    finally:
        await engine.dispose()


async def stored_readings(db_url: str, mrns: list[str]) -> set[tuple[str, datetime]]:
    engine = create_async_engine(db_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                select(Patient.mrn, VitalReading.measured_at).join(Patient, Patient.id == VitalReading.patient_id)
                .where(Patient.mrn.in_(mrns), VitalReading.kind == 'heart_rate'))
            return {(mrn, measured_at) for mrn, measured_at in rows}
    finally:
        await engine.dispose()


async def stream(server: VigilServer, token: str, mrn: str, start: datetime, accepted: set[tuple[str, datetime]],
                 enough: asyncio.Event, counts: list[int]) -> str:
    """Post single readings until the server goes away; record each 2xx; return how the stream ended."""
    headers = {'Authorization': f'Bearer {token}'}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30.0) as client:
        for index in range(MAX_POSTS):
            measured_at = start + timedelta(milliseconds=index)
            reading = {'patient_mrn': mrn, 'kind': 'heart_rate', 'value': 60 + index % 30, 'unit': '/min',
                       'measured_at': measured_at.isoformat()}
            try:
                response = await client.post('/api/v1/vitals', json=reading)
            except httpx.TransportError as error:
                return type(error).__name__
            if response.is_success:
                accepted.add((mrn, measured_at))
                counts.append(1)
                if len(counts) >= CLIENTS * BEFORE_SIGNAL:
                    enough.set()
    return 'never stopped'


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_during_ingest_exits_0_and_keeps_every_accepted_reading(
        server: StoppableServer, db_url: str, sig: signal.Signals) -> None:
    token = await asyncio.to_thread(server.create_token, 'device', 'Shutdown test gateway')
    mrns = await general_mrns(db_url)
    assert len(mrns) == CLIENTS
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    accepted: set[tuple[str, datetime]] = set()
    enough, counts = asyncio.Event(), []
    streams = [asyncio.create_task(stream(server, token, mrn, start, accepted, enough, counts)) for mrn in mrns]

    await asyncio.wait_for(enough.wait(), timeout=60)
    exit_code = await asyncio.to_thread(server.stop_with, sig)
    endings = await asyncio.gather(*streams)

    assert exit_code == 0, server.log_tail()
    # Every client was cut off by the stop, not by running out of posts: the signal came mid-stream.
    assert 'never stopped' not in endings
    assert len(accepted) >= CLIENTS * BEFORE_SIGNAL
    missing = accepted - await stored_readings(db_url, mrns)
    assert not missing, f'{len(missing)} of {len(accepted)} accepted readings are not in the database'
    assert 'Vigil stopped' in server.log_tail(), server.log_tail()


async def test_an_open_event_stream_does_not_hold_the_stop(server: StoppableServer) -> None:
    token = await asyncio.to_thread(server.create_token, 'kiosk', 'Shutdown test wall')
    headers = {'Authorization': f'Bearer {token}'}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30.0) as client, \
            client.stream('GET', '/api/v1/events') as response:
        assert response.status_code == 200

        exit_code = await asyncio.to_thread(server.stop_with, signal.SIGTERM)

        # The stream ends (the server closed it) rather than hanging on.
        async for _ in response.aiter_bytes():
            pass
    assert exit_code == 0, server.log_tail()
    assert 'timeout graceful shutdown exceeded' not in server.log_tail()


def test_a_stop_that_hangs_is_ended_after_the_bound() -> None:
    ended = threading.Event()
    codes: list[int] = []

    def end_process(code: int) -> None:
        codes.append(code)
        ended.set()

    stop = GracefulStop(grace_seconds=0.0, cleanup_seconds=0.05, end_process=end_process)
    stop.requested(signal.SIGTERM)

    assert ended.wait(timeout=10)
    assert codes == [1]


def test_the_exit_code_says_whether_the_stop_was_clean() -> None:
    ended = threading.Event()
    stop = GracefulStop(grace_seconds=0.0, cleanup_seconds=0.5, end_process=lambda code: ended.set())
    stop.requested(signal.SIGTERM)

    assert stop.finish(forced=False) == 0
    assert stop.finish(forced=True) == 1
    # The deadline stays armed after finish() (it bounds the interpreter's own exit too): let it fire here, inside
    # this test, rather than in whichever test runs when it expires.
    assert ended.wait(timeout=10)
