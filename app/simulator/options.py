"""What a simulation run does and how often: send rate, events besides the random walks, and its counters."""

from dataclasses import dataclass, field

from .physiology import Eventfulness


@dataclass(frozen=True)
class Rate:
    """How often readings go out: SpO2 and heart rate every `interval` seconds, every parameter less often."""

    interval: float = 1.0
    full_set_every: float = 5.0

    def __post_init__(self) -> None:
        if not self.interval > 0:
            raise ValueError(f'the interval must be more than 0 seconds, not {self.interval:g}')
        if self.full_set_every < self.interval:
            raise ValueError(f'a full set every {self.full_set_every:g} s cannot come more often than the '
                             f'interval of {self.interval:g} s')


@dataclass(frozen=True)
class Scenario:
    """What happens besides the random walks (mean intervals in seconds; 0 turns a kind of event off)."""

    patients: Eventfulness = field(default_factory=Eventfulness)
    # A gateway goes silent this often, for a duration between the two bounds (longer than the heartbeat limit).
    outage_every: float = 45 * 60
    outage_seconds: tuple[float, float] = (150.0, 300.0)
    # At most this share of the patients (and at least one) deteriorates at the same time.
    max_deteriorating: float = 1 / 8
    # Begin one deterioration at the start, so a demo shows something within minutes.
    first_episode: bool = True

    @classmethod
    def calm(cls) -> 'Scenario':
        """Return a scenario with random walks only: no deterioration, no artefacts, no outages."""
        return cls(patients=Eventfulness(episode_every=0, artefact_every=0), outage_every=0, first_episode=False)


@dataclass
class Report:
    """Counters of a run, for the operator's summary line."""

    patients: int = 0
    sent: int = 0
    dropped: int = 0
    buffered: int = 0
    retries: int = 0
    episodes: int = 0
    artefacts: int = 0
    outages: int = 0

    def line(self) -> str:
        """Return the counters as one line."""
        return (f'{self.sent:,} readings sent for {self.patients} patients ({self.buffered:,} buffered, '
                f'{self.dropped:,} refused or lost, {self.retries:,} retries); {self.episodes} deteriorations, '
                f'{self.artefacts} SpO2 artefacts, {self.outages} gateway outages simulated')
