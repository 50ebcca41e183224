"""Vital-sign simulator: believable streams for every patient of a hospital, sent through the real HTTP API.

`physiology` is the pure model (baselines, random walks, deterioration, artefacts); `gateway` delivers batches
with retries and idempotency keys; `runner` ties them to the clock; `demo` runs it inside the demo server.
"""

from .demo import run_demo_simulator
from .gateway import SimulatorStopped
from .options import Rate, Report, Scenario
from .physiology import Eventfulness, PatientModel, as_number, baseline_for
from .runner import Simulator

__all__ = [
    'Eventfulness',
    'PatientModel',
    'Rate',
    'Report',
    'Scenario',
    'Simulator',
    'SimulatorStopped',
    'as_number',
    'baseline_for',
    'run_demo_simulator',
]
