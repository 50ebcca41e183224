"""The vital-signs simulator: its physiology, its delivery through the real HTTP API, and its command line."""

import asyncio
import contextlib
import itertools
import json
import logging
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.api.health import health_router
from app.api.routers import api_routers
from app.bootstrap import Vigil, seed
from app.domain import AlertEventType, AlertKind, AlertStatus, Priority, TokenKind, VitalKind
from app.domain.news2 import assess
from app.domain.vitals import VITAL_SPECS, plausibility_problem
from app.schemas import Actor, AlertFilter
from app.services.escalation import Watchdog
from app.simulator import (
    Eventfulness,
    PatientModel,
    Rate,
    Scenario,
    Simulator,
    SimulatorStopped,
    as_number,
    baseline_for,
    run_demo_simulator,
)
from app.simulator.demo import DEMO_HOSPITALS
from app.simulator.scenes import OVERDUE_BED, REALARM_BED, SCRIPTED_MRNS, play_scenes
from data.models import Patient, VitalReading

from .conftest import FakeClock, World
from .test_cli import assert_one_error_line, vigil_cli

QUIET = Eventfulness(episode_every=0, artefact_every=0)
BUSY = Eventfulness(episode_every=20 * 60, artefact_every=60, episode_refractory=60)
MRNS = [f'G1001{n:02d}' for n in range(1, 25)]


def chart(model: PatientModel) -> dict[VitalKind, float]:
    """Every parameter of the model as Vigil stores it."""
    return {kind: as_number(kind, model.reading(kind)) for kind in VitalKind}


def news2(model: PatientModel) -> int:
    return assess(chart(model), model.baseline.spo2_scale).total


def run(model: PatientModel, seconds: int, every: int = 1) -> list[dict[VitalKind, float]]:
    """Advance the model second by second (or coarser) and chart it at each step."""
    samples = []
    for t in range(int(model.t) + every, int(model.t) + seconds + 1, every):
        model.advance(t)
        samples.append(chart(model))
    return samples


# --- physiology ----------------------------------------------------------------------------------------------------

def test_readings_stay_physiologically_plausible_through_hours_of_eventful_simulation() -> None:
    for mrn, scale in itertools.product(MRNS[:8], (1, 2)):
        model = PatientModel(mrn, scale, seed=7, eventfulness=BUSY)

        samples = run(model, 6 * 3600, every=2)

        assert model.episodes_started >= 3 and model.artefacts_started >= 50
        for sample in samples:
            for kind, value in sample.items():
                assert plausibility_problem(kind, value, VITAL_SPECS[kind].unit) is None, (mrn, kind, value)
            assert sample[VitalKind.DIASTOLIC_BP] < sample[VitalKind.SYSTOLIC_BP]


def test_readings_are_rounded_as_monitors_show_them() -> None:
    model = PatientModel('G100101', 1, seed=1, eventfulness=BUSY)
    for t in range(1, 600):
        model.advance(t)
        for kind in (VitalKind.HEART_RATE, VitalKind.RESP_RATE, VitalKind.SPO2, VitalKind.SYSTOLIC_BP,
                     VitalKind.DIASTOLIC_BP, VitalKind.ON_OXYGEN):
            assert isinstance(model.reading(kind), int), kind
        temperature = model.reading(VitalKind.TEMPERATURE)
        assert isinstance(temperature, float) and round(temperature, 1) == temperature
        assert model.reading(VitalKind.CONSCIOUSNESS) in {'A', 'C'}


def test_the_same_seed_gives_the_same_patient_and_another_seed_a_different_one() -> None:
    first, again, other = (PatientModel('G100203', 1, seed=s, eventfulness=BUSY) for s in (3, 3, 4))

    assert run(first, 3600) == run(again, 3600)
    assert first.episodes_started == again.episodes_started and first.artefacts_started == again.artefacts_started
    assert baseline_for('G100203', 1, 3) != baseline_for('G100203', 1, 4)
    assert run(other, 600) != run(PatientModel('G100203', 1, seed=3, eventfulness=BUSY), 600)


def test_a_patient_does_not_depend_on_which_other_patients_are_simulated() -> None:
    alone = PatientModel('G100305', 1, seed=5, eventfulness=BUSY)
    crowd = [PatientModel(mrn, 1, seed=5, eventfulness=BUSY) for mrn in ('G100304', 'G100305', 'G100306')]

    samples = run(alone, 1800, every=5)
    crowded = []
    for t in range(5, 1801, 5):
        for model in crowd:
            model.advance(t)
        crowded.append(chart(crowd[1]))

    assert samples == crowded


@pytest.mark.parametrize('mrn', MRNS[:12])
def test_baselines_are_believable_and_scale_2_patients_sit_at_their_target(mrn: str) -> None:
    scale_1, scale_2 = baseline_for(mrn, 1, 0), baseline_for(mrn, 2, 0)

    assert 95 <= scale_1.values[VitalKind.SPO2] <= 99
    assert 88 <= scale_2.values[VitalKind.SPO2] <= 92 and scale_2.on_oxygen
    for baseline in (scale_1, scale_2):
        values = baseline.values
        assert 55 <= values[VitalKind.HEART_RATE] <= 90 and 12 <= values[VitalKind.RESP_RATE] <= 20
        assert 111 <= values[VitalKind.SYSTOLIC_BP] <= 160
        assert 50 <= values[VitalKind.DIASTOLIC_BP] < values[VitalKind.SYSTOLIC_BP] - 30
        assert 36.1 <= values[VitalKind.TEMPERATURE] <= 37.5


def test_without_events_the_walks_stay_near_the_baseline_and_news2_stays_low() -> None:
    totals = []
    for mrn in MRNS:
        model = PatientModel(mrn, 2 if mrn in {'G100303', 'G100306'} else 1, seed=0, eventfulness=QUIET)
        samples = run(model, 4 * 3600, every=10)
        totals += [assess(s, model.baseline.spo2_scale).total for s in samples]
        for kind in (VitalKind.HEART_RATE, VitalKind.SPO2, VitalKind.SYSTOLIC_BP, VitalKind.TEMPERATURE):
            mean = sum(s[kind] for s in samples) / len(samples)
            spread = {VitalKind.TEMPERATURE: 0.15, VitalKind.SPO2: 1.0}.get(kind, 4.0)
            assert abs(mean - model.baseline.values[kind]) < spread, (mrn, kind)
        assert len({s[VitalKind.HEART_RATE] for s in samples}) > 10, 'the heart rate does not move'

    assert max(totals) <= 4
    assert sum(t > 0 for t in totals) > len(totals) / 10, 'every patient scores 0 all the time: too flat'


@pytest.mark.parametrize('mrn, scale', [(mrn, 1) for mrn in MRNS[:6]] + [('G100303', 2), ('G100306', 2)])
def test_a_deterioration_episode_crosses_news2_5_and_7_and_then_recovers(mrn: str, scale: int) -> None:
    model = PatientModel(mrn, scale, seed=11, eventfulness=QUIET)
    run(model, 300)
    before = news2(model)
    episode = model.start_episode(peak=1.0)
    scores = []
    for t in range(int(model.t) + 1, int(episode.end) + 1):
        model.advance(t)
        scores.append((t - episode.start, news2(model)))

    assert before < 5
    first_5 = next(at for at, total in scores if total >= 5)
    first_7 = next(at for at, total in scores if total >= 7)
    # A drift over minutes, not a jump: 5 is reached first (or together with 7), and neither in the first minute.
    assert 60 < first_5 <= first_7 < episode.onset + 60
    peak = [total for at, total in scores if episode.onset <= at <= episode.onset + episode.plateau]
    assert min(peak) >= 7
    run(model, 600)
    assert model.episode is None
    assert news2(model) < 5


def test_new_confusion_comes_late_in_a_severe_episode_and_goes_with_recovery() -> None:
    model = PatientModel('G100101', 1, seed=2, eventfulness=QUIET)
    episode = model.start_episode(peak=1.0)
    seen = []
    for t in range(1, int(episode.end) + 1):
        model.advance(t)
        seen.append((t, model.reading(VitalKind.CONSCIOUSNESS)))

    confused = [t for t, letter in seen if letter == 'C']
    assert confused and confused[0] > episode.onset / 2
    assert seen[-1][1] == 'A'


def test_a_mild_episode_stays_alert() -> None:
    model = PatientModel('G100101', 1, seed=2, eventfulness=QUIET)
    episode = model.start_episode(peak=0.6)

    for t in range(1, int(episode.end) + 1):
        model.advance(t)
        assert model.reading(VitalKind.CONSCIOUSNESS) == 'A'


def test_spo2_artefacts_are_short_dips_that_leave_the_other_parameters_alone() -> None:
    model = PatientModel('G100102', 1, seed=3, eventfulness=Eventfulness(episode_every=0, artefact_every=120))
    samples = run(model, 4 * 3600)

    dips = [len(list(run_)) for low, run_ in itertools.groupby(samples, key=lambda s: s[VitalKind.SPO2] < 85) if low]
    assert len(dips) >= 50 and model.artefacts_started == len(dips)
    # Shorter than the 15 s SpO2 persistence delay: the server must swallow every one of them.
    assert max(dips) <= 8
    assert min(dips[:-1]) >= 3  # 3-8 s sampled every second (the last dip may be cut off by the end of the run)
    assert all(65 <= s[VitalKind.SPO2] <= 78 for s in samples if s[VitalKind.SPO2] < 85)
    heart_rates = [s[VitalKind.HEART_RATE] for s in samples]
    assert max(heart_rates) - min(heart_rates) < 40


def test_episodes_start_on_their_own_and_leave_a_quiet_period_behind() -> None:
    model = PatientModel('G100104', 1, seed=9, eventfulness=Eventfulness(episode_every=600, artefact_every=0,
                                                                         episode_refractory=1800))
    starts, ends, previous = [], [], None
    for t in range(1, 12 * 3600, 5):
        model.advance(t)
        if model.episode is not previous:
            (starts if model.episode is not None else ends).append(t)
            previous = model.episode

    assert len(starts) >= 4
    assert all(start - end >= 1800 for end, start in zip(ends, starts[1:], strict=False))
    # allow_episode=False holds any new episode back (the hospital-wide cap uses it).
    held = PatientModel('G100104', 1, seed=9, eventfulness=Eventfulness(episode_every=1, artefact_every=0))
    for t in range(1, 600):
        held.advance(t, allow_episode=False)
    assert held.episodes_started == 0


# --- through the real HTTP API ---------------------------------------------------------------------------------------

class Network(httpx.AsyncBaseTransport):
    """The real API in-process, behind a network whose next POSTs can be scripted to fail.

    'down': refused before reaching the server; '503': the server is overloaded; 'lost': the server handled the
    request (and committed it) but the answer never came back, as on a timeout.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._inner = httpx.ASGITransport(app=app)
        self.script: list[str] = []
        self.posts: list[tuple[str | None, str, int]] = []  # (Idempotency-Key, outcome, number of readings)
        self.bodies: list[list[dict[str, Any]]] = []
        self.answered: list[list[dict[str, Any]]] = []  # bodies of the POSTs the server answered with 2xx
        self.posted = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != 'POST':
            return await self._inner.handle_async_request(request)
        outcome = self.script.pop(0) if self.script else 'ok'
        body = json.loads(request.content)
        self.bodies.append(body)
        self.posts.append((request.headers.get('Idempotency-Key'), outcome, len(body)))
        if outcome == 'down':
            raise httpx.ConnectError('connection refused', request=request)
        if outcome == '503':
            return httpx.Response(503, json={'detail': 'overloaded'}, request=request)
        response = await self._inner.handle_async_request(request)
        await response.aread()
        if response.is_success:
            self.answered.append(body)
        self.posted.set()  # handled and answered: whatever it stored is committed
        if outcome == 'lost':
            raise httpx.ReadTimeout('timed out', request=request)
        return response


@pytest.fixture
def network(vigil: Vigil) -> Network:
    """The API's routers, mounted on a bare FastAPI app."""
    app = FastAPI()
    for router in [health_router(), *api_routers(vigil)]:
        app.include_router(router)
    return Network(app)


async def device_token(vigil: Vigil, slug: str, name: str = 'ward monitors') -> str:
    return (await vigil.tokens.create(hospital_slug=slug, kind=TokenKind.DEVICE, name=name)).secret


def simulator(network: Network, clock: FakeClock, *tokens: str, **options: Any) -> Simulator:
    options.setdefault('scenario', Scenario.calm())
    return Simulator('http://vigil.test', tokens, seed=1, clock=clock, transport=network, **options)


async def stored_readings(vigil: Vigil, hospital_id: int) -> list[tuple[int, str, float, str, str]]:
    async with vigil.db.read() as session:
        rows = await session.execute(
            select(VitalReading.patient_id, VitalReading.kind, VitalReading.value, VitalReading.measured_at,
                   VitalReading.source).where(VitalReading.hospital_id == hospital_id)
            .order_by(VitalReading.measured_at, VitalReading.patient_id, VitalReading.kind))
        return [(r.patient_id, r.kind, r.value, r.measured_at.isoformat(), r.source) for r in rows]


async def test_each_tick_posts_one_batch_with_every_patient_and_the_readings_land_in_the_database(
        vigil: Vigil, world: World, clock: FakeClock, network: Network) -> None:
    token = await device_token(vigil, 'alpha')
    async with simulator(network, clock, token, rate=Rate(interval=1, full_set_every=5)) as sim:
        await sim.step(clock.now)
        clock.advance(seconds=1)
        await sim.step(clock.now)

    assert [(outcome, count) for _, outcome, count in network.posts] == [('ok', 4 * 8), ('ok', 4 * 2)]
    patients = await vigil.patients.list_patients(Actor.system('test', hospital_id=world.a.hospital_id))
    assert sorted(p.mrn for p in patients) == sorted(sim.patients) == sorted(f'alpha-{k}' for k in world.a.patient_ids)
    for patient in patients:
        assert set(patient.latest) == set(VitalKind)
        assert patient.news2 is not None and patient.news2.missing == () and patient.news2.total < 5
        assert patient.latest[VitalKind.HEART_RATE].measured_at == clock.now
        assert patient.latest[VitalKind.TEMPERATURE].measured_at == clock.now - timedelta(seconds=1)
    stored = await stored_readings(vigil, world.a.hospital_id)
    assert len(stored) == 40 and {source for *_, source in stored} == {'token:ward monitors'}
    assert await stored_readings(vigil, world.b.hospital_id) == []
    assert (sim.report.sent, sim.report.patients, sim.report.buffered) == (40, 4, 0)


async def test_several_tokens_share_out_the_wards_as_monitor_gateways(
        vigil: Vigil, world: World, clock: FakeClock, network: Network) -> None:
    north, south = await device_token(vigil, 'alpha', 'gateway one'), await device_token(vigil, 'alpha', 'gateway two')
    async with simulator(network, clock, north, south) as sim:
        await sim.step(clock.now)

    assert [count for *_, count in network.posts] == [16, 16]
    sources = {(pid, source) for pid, *_, source in await stored_readings(vigil, world.a.hospital_id)}
    ids = world.a.patient_ids
    assert sources == {(ids['North-1'], 'token:gateway one'), (ids['North-2'], 'token:gateway one'),
                       (ids['South-1'], 'token:gateway two'), (ids['South-2'], 'token:gateway two')}


async def test_tokens_of_two_hospitals_are_refused_together(
        vigil: Vigil, world: World, clock: FakeClock, network: Network) -> None:
    alpha, beta = await device_token(vigil, 'alpha'), await device_token(vigil, 'beta')
    async with simulator(network, clock, alpha, beta) as sim:
        with pytest.raises(SimulatorStopped, match='different hospitals'):
            await sim.step(clock.now)

    assert network.posts == []


async def test_a_lost_answer_is_retried_with_the_same_key_and_stored_once(
        vigil: Vigil, world: World, clock: FakeClock, network: Network, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger='vigil.simulator')
    token = await device_token(vigil, 'alpha')
    network.script = ['lost', 'down', '503']
    async with simulator(network, clock, token, rate=Rate(interval=1, full_set_every=1)) as sim:
        for _ in range(12):
            await sim.step(clock.now)
            clock.advance(seconds=1)

    keys = [key for key, *_ in network.posts]
    # The first batch was committed on its first try: the three retries carry its key, the last one is a replay.
    assert keys[:4] == [keys[0]] * 4 and len(set(keys)) == len(keys) - 3
    assert [outcome for _, outcome, _ in network.posts[:4]] == ['lost', 'down', '503', 'ok']
    stored = await stored_readings(vigil, world.a.hospital_id)
    assert len(stored) == len({(pid, kind, at) for pid, kind, _, at, _ in stored}) == 12 * 4 * 8
    assert sim.report.sent == 12 * 4 * 8 and sim.report.buffered == 0 and sim.report.retries == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and 'unreachable (ReadTimeout: timed out)' in warnings[0]
    assert any('reachable again' in r.getMessage() for r in caplog.records)


async def test_readings_are_buffered_while_the_server_is_down_and_delivered_in_order_afterwards(
        vigil: Vigil, world: World, clock: FakeClock, network: Network) -> None:
    token = await device_token(vigil, 'alpha')
    network.script = ['down'] * 4
    async with simulator(network, clock, token) as sim:
        for _ in range(30):
            await sim.step(clock.now)
            clock.advance(seconds=1)
        assert sim.report.buffered == 0

    delivered = [count for _, outcome, count in network.posts if outcome == 'ok']
    assert sum(delivered) == sim.report.sent == len(await stored_readings(vigil, world.a.hospital_id))
    # Backoff (0.5, 1, 2, 4 s): four failures in the first 10 s, not one per step.
    assert [outcome for _, outcome, _ in network.posts[:5]] == ['down'] * 4 + ['ok']
    assert network.posts[4][0] == network.posts[0][0]
    assert len({key for key, *_ in network.posts}) == len(network.posts) - 4


async def test_a_refused_token_stops_the_simulator_with_the_reason(
        vigil: Vigil, world: World, clock: FakeClock, network: Network) -> None:
    token = await device_token(vigil, 'alpha')
    async with simulator(network, clock, token) as sim:
        await sim.step(clock.now)
        await vigil.tokens.revoke(hospital_slug='alpha', name='ward monitors')
        clock.advance(seconds=1)
        with pytest.raises(SimulatorStopped, match='401: The API token is unknown or has been revoked'):
            await sim.step(clock.now)


async def test_a_kiosk_token_cannot_feed_the_simulator(
        vigil: Vigil, world: World, clock: FakeClock, network: Network) -> None:
    kiosk = (await vigil.tokens.create(hospital_slug='alpha', kind=TokenKind.KIOSK, name='wall')).secret
    async with simulator(network, clock, kiosk) as sim:
        with pytest.raises(SimulatorStopped, match='403'):
            await sim.step(clock.now)

    assert await stored_readings(vigil, world.a.hospital_id) == []


async def test_a_gateway_outage_silences_its_wards_and_then_they_report_again(
        vigil: Vigil, world: World, clock: FakeClock, network: Network) -> None:
    token = await device_token(vigil, 'alpha')
    outage = Scenario(patients=Eventfulness(episode_every=0, artefact_every=0), outage_every=1,
                      outage_seconds=(150, 150), first_episode=False)
    async with simulator(network, clock, token, scenario=outage, rate=Rate(interval=5, full_set_every=5)) as sim:
        for _ in range(80):
            await sim.step(clock.now)
            clock.advance(seconds=5)

    started = clock.now - timedelta(seconds=80 * 5)
    times = sorted({datetime.fromisoformat(at) for *_, at, _ in await stored_readings(vigil, world.a.hospital_id)})
    # With an outage certain at every chance: report, fall silent for 150 s (longer than the heartbeat limit),
    # report again once the outage is over, fall silent again.
    assert times == [started + timedelta(seconds=s) for s in (0, 155, 310)]
    assert sim.report.outages == 3 and sim.report.buffered == 0


async def test_patients_admitted_later_join_the_stream_at_the_next_refresh(
        vigil: Vigil, world: World, clock: FakeClock, network: Network) -> None:
    token = await device_token(vigil, 'alpha')
    async with simulator(network, clock, token, refresh_every=60) as sim:
        await sim.step(clock.now)
        async with vigil.db.uow() as uow:
            uow.session.add(Patient(hospital_id=world.a.hospital_id, ward_id=world.a.ward_ids['South'], mrn='alpha-new',
                                    name='New Arrival', bed='South-3', spo2_scale=2, admitted_at=clock.now))
            await uow.commit()
        clock.advance(seconds=61)
        await sim.step(clock.now)

    assert 'alpha-new' in sim.patients and sim.patients['alpha-new'].model.baseline.spo2_scale == 2
    newcomer = [r for r in network.bodies[-1] if r['patient_mrn'] == 'alpha-new']
    assert {r['kind'] for r in newcomer} == set(VitalKind)  # a full set at once, for a complete NEWS2
    assert all(r['patient_mrn'] != 'alpha-new' for r in network.bodies[0])


async def test_run_stops_after_the_given_time_and_cancelling_it_is_clean(
        vigil: Vigil, world: World, clock: FakeClock, network: Network) -> None:
    token = await device_token(vigil, 'alpha')
    sim = simulator(network, clock, token, rate=Rate(interval=0.05, full_set_every=0.05))
    report = await sim.run(stop_after=1.0)

    assert report.sent > 32 and report.patients == 4  # more than the first step's full sets (a loaded CI is slow)
    network.posted.clear()
    again = simulator(network, clock, token)
    task = asyncio.create_task(again.run())
    await network.posted.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await again.aclose()


async def test_the_server_swallows_the_simulated_artefacts_and_alerts_on_the_simulated_deterioration(
        vigil: Vigil, world: World, clock: FakeClock, network: Network) -> None:
    token = await device_token(vigil, 'alpha')
    artefacts = Scenario(patients=Eventfulness(episode_every=0, artefact_every=12), outage_every=0,
                         first_episode=False)
    alpha = Actor.system('test', hospital_id=world.a.hospital_id)
    async with simulator(network, clock, token, scenario=artefacts, rate=Rate(interval=1, full_set_every=5)) as sim:
        for _ in range(150):
            await sim.step(clock.now)
            clock.advance(seconds=1)
        dips = [r for body in network.bodies for r in body if r['kind'] == 'spo2' and r['value'] < 80]

        assert sim.report.artefacts >= 20 and len(dips) >= 60, (sim.report, len(dips))
        assert await vigil.alerts.list_alerts(alpha) == []

        sick = sim.patients['alpha-North-2']
        sick.model.start_episode(peak=1.0)
        for _ in range(int(sick.model.episode.onset + 120) // 5):  # type: ignore[union-attr]
            clock.advance(seconds=5)
            await sim.step(clock.now)

    alerts = await vigil.alerts.list_alerts(alpha)
    assert alerts and {a.patient_mrn for a in alerts} == {'alpha-North-2'}
    assert any(a.kind is AlertKind.NEWS2 and a.priority is Priority.CRITICAL for a in alerts)


# --- inside the demo server -------------------------------------------------------------------------------------------

async def test_the_demo_simulator_streams_every_demo_hospital_through_fresh_device_tokens(
        vigil: Vigil, clock: FakeClock, network: Network) -> None:
    await seed(vigil)
    await play_scenes(vigil)  # as `python main.py --demo` does before serving

    async def stream_until_every_patient_reported() -> None:
        network.answered.clear()
        task = asyncio.create_task(run_demo_simulator(vigil, 'http://vigil.test', transport=network))
        try:
            async with asyncio.timeout(60):
                while len({r['patient_mrn'] for body in network.answered for r in body}) < 29 - len(SCRIPTED_MRNS):
                    network.posted.clear()
                    await network.posted.wait()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    await stream_until_every_patient_reported()
    first = {slug: await vigil.tokens.list_tokens(hospital_slug=slug) for slug in DEMO_HOSPITALS}
    clock.advance(seconds=1)
    await stream_until_every_patient_reported()
    second = {slug: await vigil.tokens.list_tokens(hospital_slug=slug) for slug in DEMO_HOSPITALS}

    wards = {slug: sorted(w.name for w in await vigil.hospitals.wards(slug)) for slug in DEMO_HOSPITALS}
    for slug in DEMO_HOSPITALS:
        active = [t for t in second[slug] if t.revoked_at is None]
        # One device token per ward, named after it; the previous start's tokens are revoked, not reused.
        assert sorted(t.name.split(', ', 1)[1].rsplit(' (', 1)[0] for t in active) == wards[slug]
        assert all(t.kind is TokenKind.DEVICE for t in active)
        assert {t.id for t in first[slug]} <= {t.id for t in second[slug] if t.revoked_at is not None}
    patients = await vigil.patients.list_patients(Actor.system('test', hospital_id=1))
    patients += await vigil.patients.list_patients(Actor.system('test', hospital_id=2))
    assert len(patients) == 29 and all(p.news2 is not None and p.news2.missing == () for p in patients)
    async with vigil.db.read() as session:
        sources = dict((await session.execute(
            select(VitalReading.patient_id, VitalReading.source).distinct())).all())
    for patient in patients:
        simulated = f'token:Demo simulator, {patient.ward_name} ('
        expected = 'demo bedside monitor' if patient.mrn in SCRIPTED_MRNS else simulated
        assert sources[patient.id].startswith(expected)


async def test_the_demo_plays_a_re_alarm_and_an_overdue_patient_once(vigil: Vigil, clock: FakeClock) -> None:
    await seed(vigil)
    await play_scenes(vigil)
    await play_scenes(vigil)  # a second start plays nothing again
    actor = Actor.system('test', hospital_id=(await vigil.hospitals.get('general')).id)
    beds = {p.bed: p for p in await vigil.patients.list_patients(actor)}
    [realarm] = await vigil.alerts.list_alerts(actor, AlertFilter(patient_id=beds[REALARM_BED].id))
    assert (realarm.kind, realarm.priority, realarm.status, realarm.acknowledged_by) == (
        AlertKind.NEWS2, Priority.CRITICAL, AlertStatus.ACTIVE, None)
    trail = await vigil.alerts.audit_trail(actor, realarm.id)
    assert [e.type for e in trail] == [AlertEventType.RAISED, AlertEventType.ACKNOWLEDGED, AlertEventType.REACTIVATED]
    assert 'acknowledgement by doctor at' in (trail[-1].note or '')
    overdue = beds[OVERDUE_BED]
    assert overdue.observations_due_at == clock() - timedelta(hours=1)  # NEWS2 1: 4-hourly, the set 5 h ago
    [alert] = (await Watchdog(vigil.db, vigil.clock, vigil.alerts, vigil.rules).tick()).overdue_observations
    assert (alert.patient_id, alert.priority) == (overdue.id, Priority.MEDIUM)


# --- command line ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('args, message', [
    ([], 'a device token is needed: pass --token or set VIGIL_SIMULATOR_TOKEN'),
    (['--token', 'vgd_a b'], 'argument --token: a token is one word'),
    (['--token', 'vgd_x', '--url', 'ftp://example.org'], "argument --url: 'ftp://example.org' is not an http"),
    (['--token', 'vgd_x', '--url', 'http://'], 'argument --url'),
    (['--token', 'vgd_x', '--interval', '0'], 'argument --interval: 0 is not between 0.05 and 3600 seconds'),
    (['--token', 'vgd_x', '--interval', 'often'], "argument --interval: invalid float value: 'often'"),
    (['--token', 'vgd_x', '--interval', '2', '--full-set-every', '1'],
     'argument --full-set-every: 1 is not between the interval (2) and 86400 seconds'),
    (['--token', 'vgd_x', '--duration', '-5'], 'argument --duration: -5 is not a positive number of seconds'),
    (['--token', 'vgd_x', '--seed', 'x'], "argument --seed: invalid int value: 'x'"),
    (['--token', 'vgd_x', '--speed', '2'], 'unrecognized arguments: --speed 2'),
])
def test_simulate_refuses_bad_arguments_with_one_line_and_touches_no_database(
        tmp_path: Path, args: list[str], message: str) -> None:
    result = vigil_cli(tmp_path, 'simulate', *args)

    assert message in assert_one_error_line(result)
    assert list(tmp_path.iterdir()) == []


def test_simulate_takes_the_token_from_the_environment_and_says_when_the_server_cannot_be_reached(
        tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        url = f'http://127.0.0.1:{probe.getsockname()[1]}'  # nothing listens: the socket never listens

        result = vigil_cli(tmp_path, 'simulate', '--url', url, '--duration', '1.5',
                           VIGIL_SIMULATOR_TOKEN='vgd_from_the_environment')

    lines = result.stderr.splitlines()
    assert result.returncode == 2 and result.stdout == ''
    assert len(lines) == 2 and f'Vigil at {url} is unreachable (ConnectError' in lines[0] and 'waiting' in lines[0]
    assert lines[1] == f'vigil: error: Vigil at {url} could not be reached within 1.5 s'
    assert 'vgd_from_the_environment' not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_simulate_help_says_the_token_can_come_from_the_environment(tmp_path: Path) -> None:
    result = vigil_cli(tmp_path, 'simulate', '--help')

    assert result.returncode == 0
    assert 'VIGIL_SIMULATOR_TOKEN' in ' '.join(result.stdout.split())
    assert 'simulate' in vigil_cli(tmp_path, '--help').stdout
