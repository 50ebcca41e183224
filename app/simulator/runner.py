"""The simulator: every patient of a hospital streaming vitals into Vigil through its real HTTP API."""

import asyncio
import logging
import math
import random
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import httpx

from app.clock import Clock, system_clock
from app.domain import VitalKind
from app.domain.vitals import VITAL_SPECS

from .gateway import Gateway, SimulatorStopped
from .options import Rate, Report, Scenario
from .patients import SimulatedPatient, fetch_patients
from .physiology import PatientModel

log = logging.getLogger('vigil.simulator')

FAST: tuple[VitalKind, ...] = (VitalKind.SPO2, VitalKind.HEART_RATE)  # what a bedside monitor reports continuously
FULL_SET = tuple(VitalKind)


class Simulator:
    """Simulate one hospital; each token is a monitor gateway and the wards are shared out among them.

    `step(now)` advances the physiology to `now` and sends what is due (tests drive it with a fake clock);
    `run()` calls it every `rate.interval` seconds until cancelled or `stop_after` seconds have passed.
    """

    def __init__(self, base_url: str, tokens: Sequence[str], *, seed: int = 0, rate: Rate | None = None,
                 scenario: Scenario | None = None, clock: Clock = system_clock,
                 transport: httpx.AsyncBaseTransport | None = None, timeout: float = 10.0,
                 refresh_every: float = 300.0, name: str = 'simulator', exclude: frozenset[str] = frozenset()) -> None:
        if not tokens:
            raise ValueError('the simulator needs at least one device token')
        self.name = name
        self.exclude = exclude  # MRNs of patients this simulator leaves alone (the demo's scripted ones)
        self.seed = seed
        self.rate = rate or Rate()
        self.scenario = scenario or Scenario()
        self._clock = clock
        self._tokens = list(tokens)
        self._client = httpx.AsyncClient(base_url=base_url.rstrip('/'), timeout=timeout, transport=transport)
        self._rng = random.Random(f'{seed}:{name}:hospital')
        self.gateways = [Gateway(f'{name} gateway {i + 1}', token, self._client, random.Random(f'{seed}:{name}:{i}'))
                         for i, token in enumerate(self._tokens)]
        self.patients: dict[str, SimulatedPatient] = {}
        self._refresh_every = refresh_every
        self._refresh_at: float | None = None
        self._start: datetime | None = None
        self._unreachable_since: datetime | None = None
        self.report = Report()

    async def __aenter__(self) -> 'Simulator':
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        return str(self._client.base_url)

    async def load_patients(self) -> int:
        """Fetch the hospital's patients and give each gateway its wards; return how many patients there are."""
        listings = [await fetch_patients(self._client, token) for token in self._tokens]
        if any({p['mrn'] for p in listing} != {p['mrn'] for p in listings[0]} for listing in listings):
            raise SimulatorStopped('the tokens belong to different hospitals: run one simulator per hospital')
        wards = sorted({p['ward'] for p in listings[0]})
        gateway_of = {ward: self.gateways[i % len(self.gateways)] for i, ward in enumerate(wards)}
        current = {}
        for entry in listings[0]:
            if entry['mrn'] in self.exclude:
                continue
            known = self.patients.get(entry['mrn'])
            if known is not None and known.model.baseline.spo2_scale == entry['spo2_scale']:
                known.ward, known.bed, known.gateway = entry['ward'], entry['bed'], gateway_of[entry['ward']]
                current[entry['mrn']] = known
                continue
            model = PatientModel(entry['mrn'], entry['spo2_scale'], self.seed, self.scenario.patients)
            if self._start is not None:
                model.t = self._model_time(self._clock())
            current[entry['mrn']] = SimulatedPatient(
                mrn=entry['mrn'], ward=entry['ward'], bed=entry['bed'], model=model, gateway=gateway_of[entry['ward']],
                phase=random.Random(f'{self.seed}:{entry["mrn"]}:phase').random())
        self.patients = dict(sorted(current.items()))
        self.report.patients = len(self.patients)
        for gateway in self.gateways:
            gateway.wards = [w for w in wards if gateway_of[w] is gateway]
            if not gateway.wards:
                log.warning('%s has no ward to report for (more tokens than wards)', gateway.name)
        return len(self.patients)

    def _model_time(self, now: datetime) -> float:
        assert self._start is not None
        return (now - self._start).total_seconds()

    async def step(self, now: datetime) -> Report:
        """Advance every patient to `now`, send the readings that are due and return the run's counters."""
        if self._start is None:
            self._start = now
            self._refresh_at = self._refresh_every
            if not self.patients:
                await self.load_patients()
        t = self._model_time(now)
        if self._refresh_at is not None and t >= self._refresh_at:
            await self._refresh(t)
        self._advance(t)
        self._outages(now)
        due: dict[Gateway, list[dict[str, Any]]] = {g: [] for g in self.gateways}
        for patient in self.patients.values():
            kinds = FAST
            # Half an interval of slack: ticks of run() come a little early or late, never exactly on time.
            if t >= patient.next_full_set - self.rate.interval / 2:
                kinds = FULL_SET
                every = self.rate.full_set_every
                # Every patient's first full set comes at once (a complete NEWS2 from the start); the second one is
                # a random part of a cycle later, so from then on the full sets are spread over the ticks.
                first = patient.next_full_set == 0
                spread = patient.phase * (every - self.rate.interval)
                following = t + every + spread if first else patient.next_full_set + every
                patient.next_full_set = following if following > t else t + every
            if not patient.gateway.silent(now):
                due[patient.gateway].extend(_reading(patient, kind, now) for kind in kinds)
        for gateway, readings in due.items():
            if readings:
                gateway.enqueue(readings)
        outcomes = await asyncio.gather(*(g.flush(now) for g in self.gateways))
        self._note_reachability(now, [o.unreachable for o in outcomes if o.unreachable])
        if any(o.unknown_patient for o in outcomes):
            self._refresh_at = t  # a patient was discharged or moved: refresh the list on the next step
        report = self.report
        report.sent = sum(g.sent for g in self.gateways)
        report.dropped = sum(g.dropped for g in self.gateways)
        report.buffered = sum(g.buffered for g in self.gateways)
        report.retries = sum(g.retries for g in self.gateways)
        report.episodes = sum(p.model.episodes_started for p in self.patients.values())
        report.artefacts = sum(p.model.artefacts_started for p in self.patients.values())
        return report

    def _advance(self, t: float) -> None:
        patients = list(self.patients.values())
        cap = max(1, int(len(patients) * self.scenario.max_deteriorating))
        deteriorating = sum(p.model.episode is not None for p in patients)
        if self.scenario.first_episode and t == 0 and patients and not deteriorating:
            first = self._rng.choice(patients)
            first.model.start_episode()
            log.info('%s: %s (bed %s) begins to deteriorate', self.name, first.mrn, first.bed)
        for patient in patients:
            before = patient.model.episode
            patient.model.advance(t, allow_episode=deteriorating < cap)
            if patient.model.episode is not None and patient.model.episode is not before:
                deteriorating += 1
                log.info('%s: %s (bed %s) begins to deteriorate', self.name, patient.mrn, patient.bed)
            elif before is not None and patient.model.episode is None:
                log.info('%s: %s (bed %s) has recovered', self.name, patient.mrn, patient.bed)

    def _outages(self, now: datetime) -> None:
        scenario = self.scenario
        for gateway in self.gateways:
            if gateway.silent_until is not None and now >= gateway.silent_until:
                gateway.silent_until = None
                log.info('%s (%s) reports again after its simulated outage', gateway.name, ', '.join(gateway.wards))
                continue  # and sends at least once before it can fall silent again
            if gateway.silent_until is not None or scenario.outage_every <= 0 or self._start == now:
                continue
            if self._rng.random() < 1 - math.exp(-self.rate.interval / scenario.outage_every):
                seconds = self._rng.uniform(*scenario.outage_seconds)
                gateway.silent_until = now + timedelta(seconds=seconds)
                self.report.outages += 1
                log.info('%s (%s) goes silent for %.0f s (simulated outage)', gateway.name, ', '.join(gateway.wards),
                         seconds)

    def _note_reachability(self, now: datetime, problems: list[str], doing: str = 'buffering readings') -> None:
        if problems and self._unreachable_since is None:
            self._unreachable_since = now
            log.warning('%s: Vigil at %s is unreachable (%s); %s and retrying', self.name, self.url, problems[0],
                        doing)
        elif not problems and self._unreachable_since is not None and not any(g.buffered for g in self.gateways):
            log.info('%s: Vigil at %s is reachable again after %.0f s; buffered readings delivered', self.name,
                     self.url, (now - self._unreachable_since).total_seconds())
            self._unreachable_since = None

    async def _refresh(self, t: float) -> None:
        self._refresh_at = t + self._refresh_every
        try:
            await self.load_patients()
        except httpx.HTTPError as error:
            # The stream goes on with the patients it has; the next refresh tries again.
            log.debug('%s: patient list not refreshed: %s', self.name, error)

    async def run(self, stop_after: float | None = None, *, status_every: float = 60.0) -> Report:
        """Stream until cancelled (or for stop_after seconds); connects first, waiting while the server is down."""
        loop = asyncio.get_running_loop()
        deadline = None if stop_after is None else loop.time() + stop_after
        if not await self._connect(deadline):
            raise SimulatorStopped(f'Vigil at {self.url} could not be reached within {stop_after:g} s')
        log.info('%s: streaming %d patients to %s through %d gateway(s)', self.name, len(self.patients), self.url,
                 len(self.gateways))
        next_tick = next_status = loop.time()
        while deadline is None or loop.time() < deadline:
            await self.step(self._clock())
            if loop.time() >= next_status + status_every:
                next_status = loop.time()
                log.info('%s: %s', self.name, self.report.line())
            next_tick = max(next_tick + self.rate.interval, loop.time())
            await asyncio.sleep(max(0.0, min(next_tick, deadline or next_tick) - loop.time()))
        return self.report

    async def _connect(self, deadline: float | None) -> bool:
        loop = asyncio.get_running_loop()
        delay = 0.5
        while True:
            try:
                await self.load_patients()
            except (httpx.TransportError, httpx.HTTPStatusError) as error:
                self._note_reachability(self._clock(), [f'{type(error).__name__}: {error}'.rstrip(': ')], 'waiting')
            else:
                self._unreachable_since = None
                return True
            if deadline is not None and loop.time() + delay >= deadline:
                await asyncio.sleep(max(0.0, deadline - loop.time()))
                return False
            await asyncio.sleep(delay)
            delay = min(30.0, delay * 2)


def _reading(patient: SimulatedPatient, kind: VitalKind, now: datetime) -> dict[str, Any]:
    return {'patient_mrn': patient.mrn, 'kind': kind.value, 'value': patient.model.reading(kind),
            'unit': VITAL_SPECS[kind].unit, 'measured_at': now.isoformat()}
