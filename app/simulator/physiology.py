"""Simulated physiology of one patient: a baseline, mean-reverting random walks, deterioration and artefacts.

Pure and deterministic: every random draw comes from the patient's own `random.Random`, seeded from the run's
seed and the MRN, so a patient behaves the same in every run with the same seed, whatever else is simulated.
"""

import math
import random
from dataclasses import dataclass

from app.domain import VitalKind
from app.domain.vitals import VITAL_SPECS

ACVPU = 'ACVPU'  # consciousness letters by ordinal, as the API receives them
CONTINUOUS = (VitalKind.HEART_RATE, VitalKind.RESP_RATE, VitalKind.SPO2, VitalKind.SYSTOLIC_BP,
              VitalKind.DIASTOLIC_BP, VitalKind.TEMPERATURE)


@dataclass(frozen=True)
class Walk:
    """An Ornstein-Uhlenbeck walk: stationary spread, correlation time (s), hard physiological bounds."""

    sd: float
    tau: float
    low: float
    high: float
    # Beat-to-beat or sensor noise added to each reading, not to the state.
    jitter: float = 0.0


# Bounds stay well inside the plausibility ranges of app/domain/vitals.py, so the API never refuses a reading.
WALKS: dict[VitalKind, Walk] = {
    VitalKind.HEART_RATE: Walk(sd=3.0, tau=60, low=30, high=200, jitter=1.0),
    VitalKind.RESP_RATE: Walk(sd=1.0, tau=120, low=6, high=45),
    VitalKind.SPO2: Walk(sd=0.7, tau=60, low=60, high=100, jitter=0.3),
    VitalKind.SYSTOLIC_BP: Walk(sd=4.0, tau=180, low=60, high=230, jitter=1.5),
    VitalKind.DIASTOLIC_BP: Walk(sd=3.0, tau=180, low=30, high=130, jitter=1.0),
    VitalKind.TEMPERATURE: Walk(sd=0.1, tau=300, low=34.0, high=41.5),
}
# How far each parameter moves at the worst of a full deterioration (severity 1): sepsis-like, NEWS2 well above 7.
DETERIORATION: dict[VitalKind, float] = {
    VitalKind.HEART_RATE: 45, VitalKind.RESP_RATE: 13, VitalKind.SPO2: -9, VitalKind.SYSTOLIC_BP: -40,
    VitalKind.DIASTOLIC_BP: -20, VitalKind.TEMPERATURE: 2.0,
}
CONFUSED_FROM_SEVERITY = 0.8  # new confusion comes late, only in the worse episodes


@dataclass(frozen=True)
class Baseline:
    """Where a patient's vitals hover when nothing happens."""

    values: dict[VitalKind, float]
    on_oxygen: bool
    spo2_scale: int


def baseline_for(mrn: str, spo2_scale: int, seed: int) -> Baseline:
    """Return a patient's baseline, the same for the same seed and MRN."""
    rng = random.Random(f'{seed}:{mrn}:baseline')
    on_oxygen = spo2_scale == 2 or rng.random() < 0.15
    # Scale-2 patients (hypercapnic respiratory failure) are kept at their prescribed target of 88-92 %.
    spo2 = rng.uniform(89, 91) if spo2_scale == 2 else rng.uniform(95, 97) if on_oxygen else rng.uniform(95.5, 98.5)
    systolic = rng.uniform(112, 150)
    return Baseline(values={
        VitalKind.HEART_RATE: rng.uniform(58, 86),
        VitalKind.RESP_RATE: rng.uniform(12, 18),
        VitalKind.SPO2: spo2,
        VitalKind.SYSTOLIC_BP: systolic,
        VitalKind.DIASTOLIC_BP: systolic * rng.uniform(0.55, 0.65),
        VitalKind.TEMPERATURE: rng.uniform(36.4, 37.3),
    }, on_oxygen=on_oxygen, spo2_scale=spo2_scale)


def _smooth(x: float) -> float:
    return x * x * (3 - 2 * x)


@dataclass(frozen=True)
class Episode:
    """A deterioration: severity rises over minutes to its peak, stays, then recovers."""

    start: float
    onset: float
    plateau: float
    recovery: float
    peak: float

    @property
    def end(self) -> float:
        """Return the model time at which the patient is back at baseline."""
        return self.start + self.onset + self.plateau + self.recovery

    def severity(self, t: float) -> float:
        """Return how far the patient has deteriorated at model time t (0 none, 1 the worst)."""
        elapsed = t - self.start
        if elapsed <= 0 or t >= self.end:
            return 0.0
        if elapsed < self.onset:
            return self.peak * _smooth(elapsed / self.onset)
        if elapsed < self.onset + self.plateau:
            return self.peak
        return self.peak * (1 - _smooth((elapsed - self.onset - self.plateau) / self.recovery))


@dataclass(frozen=True)
class Artefact:
    """A probe slipping off a finger: SpO2 reads implausibly low for a few seconds, nothing else changes."""

    start: float
    seconds: float
    spo2: int

    def active(self, t: float) -> bool:
        """Tell whether the probe still reads wrong at model time t."""
        return self.start <= t < self.start + self.seconds


@dataclass(frozen=True)
class Eventfulness:
    """How often things happen to one patient (mean seconds between starts; 0 turns a kind of event off)."""

    episode_every: float = 3 * 3600
    artefact_every: float = 15 * 60
    # A patient who recovered stays stable at least this long before the next episode.
    episode_refractory: float = 30 * 60


class PatientModel:
    """One simulated patient; `advance(t)` moves the model to model time t (seconds), `reading` samples it."""

    def __init__(self, mrn: str, spo2_scale: int, seed: int, eventfulness: Eventfulness = Eventfulness()) -> None:
        self.mrn = mrn
        self.baseline = baseline_for(mrn, spo2_scale, seed)
        self.eventfulness = eventfulness
        self._rng = random.Random(f'{seed}:{mrn}:walk')
        self.state = dict(self.baseline.values)
        self.t = 0.0
        self.episode: Episode | None = None
        self.artefact: Artefact | None = None
        self._quiet_until = 0.0
        self.episodes_started = 0
        self.artefacts_started = 0

    def severity(self) -> float:
        """Return the current deterioration severity (0 when there is no episode)."""
        return self.episode.severity(self.t) if self.episode else 0.0

    def may_start_episode(self) -> bool:
        """Tell whether a new deterioration may begin (none under way, the quiet period after the last is over)."""
        return self.episode is None and self.t >= self._quiet_until

    def start_episode(self, peak: float | None = None) -> Episode:
        """Begin a deterioration now (peak severity drawn between 0.6 and 1 unless given)."""
        rng = self._rng
        self.episode = Episode(start=self.t, onset=rng.uniform(240, 600), plateau=rng.uniform(120, 360),
                               recovery=rng.uniform(300, 720), peak=rng.uniform(0.6, 1.0) if peak is None else peak)
        self.episodes_started += 1
        return self.episode

    def advance(self, t: float, *, allow_episode: bool = True) -> None:
        """Move the walks, episodes and artefacts forward to model time t."""
        dt = t - self.t
        if dt <= 0:
            return
        self.t = t
        rng = self._rng
        if self.episode is not None and t >= self.episode.end:
            self.episode, self._quiet_until = None, t + self.eventfulness.episode_refractory
        if allow_episode and self.may_start_episode() and _happens(rng, dt, self.eventfulness.episode_every):
            self.start_episode()
        if self.artefact is not None and not self.artefact.active(t):
            self.artefact = None  # and no new one in the same step: two artefacts never merge into a long dip
        elif self.artefact is None and _happens(rng, dt, self.eventfulness.artefact_every):
            # 3-8 s: shorter than the 15 s SpO2 persistence delay, so the server must swallow it.
            self.artefact = Artefact(start=t, seconds=rng.uniform(3, 8), spo2=rng.randint(65, 78))
            self.artefacts_started += 1
        severity = self.severity()
        for kind in CONTINUOUS:
            walk = WALKS[kind]
            target = self.baseline.values[kind] + severity * DETERIORATION[kind]
            # Exact OU update: stable for any step length, so slow and fast tick rates give the same statistics.
            keep = math.exp(-dt / walk.tau)
            value = target + (self.state[kind] - target) * keep + walk.sd * math.sqrt(1 - keep * keep) * rng.gauss()
            self.state[kind] = min(walk.high, max(walk.low, value))
        # Pulse pressure never collapses below 15 mmHg, whatever the two walks did.
        self.state[VitalKind.DIASTOLIC_BP] = min(self.state[VitalKind.DIASTOLIC_BP],
                                                 self.state[VitalKind.SYSTOLIC_BP] - 15)

    def reading(self, kind: VitalKind) -> int | float | str:
        """Return what a monitor would show for one parameter now, rounded as monitors round it."""
        if kind is VitalKind.CONSCIOUSNESS:
            return ACVPU[1] if self.severity() >= CONFUSED_FROM_SEVERITY else ACVPU[0]
        if kind is VitalKind.ON_OXYGEN:
            return int(self.baseline.on_oxygen)
        if kind is VitalKind.SPO2 and self.artefact is not None and self.artefact.active(self.t):
            return self.artefact.spo2
        walk = WALKS[kind]
        value = self.state[kind] + (self._rng.gauss() * walk.jitter if walk.jitter else 0.0)
        spec = VITAL_SPECS[kind]
        value = min(walk.high, spec.high, max(walk.low, spec.low, value))
        return round(value, 1) if kind is VitalKind.TEMPERATURE else round(value)


def as_number(kind: VitalKind, value: int | float | str) -> float:
    """Return a reading as the number Vigil stores (ACVPU letters become their ordinal 0-4)."""
    return float(ACVPU.index(value)) if isinstance(value, str) else float(value)


def _happens(rng: random.Random, dt: float, mean_interval: float) -> bool:
    """Draw whether a Poisson event with this mean interval happens within dt seconds."""
    return mean_interval > 0 and rng.random() < 1 - math.exp(-dt / mean_interval)
