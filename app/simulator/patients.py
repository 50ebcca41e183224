"""The simulator's view of the hospital: the patient list from the API, and each simulated patient's state."""

from dataclasses import dataclass
from typing import Any, TypedDict

import httpx

from .gateway import Gateway, SimulatorStopped, response_problem
from .physiology import PatientModel

PATIENTS_PATH = '/api/v1/patients'


class ListedPatient(TypedDict):
    mrn: str
    ward: str
    bed: str
    spo2_scale: int


@dataclass
class SimulatedPatient:
    mrn: str
    ward: str
    bed: str
    model: PatientModel
    gateway: Gateway
    # Where in the full-set cycle this patient's monitor sits (0-1), so full sets are spread over the ticks.
    phase: float
    # Model time at which the next full set of parameters is due (0: at once).
    next_full_set: float = 0.0


async def fetch_patients(client: httpx.AsyncClient, token: str) -> list[ListedPatient]:
    """Return the patients the token's hospital has (raises SimulatorStopped when the token is refused)."""
    response = await client.get(PATIENTS_PATH, headers={'Authorization': f'Bearer {token}'})
    if response.status_code in (401, 403, 404):
        raise SimulatorStopped(f'{response.request.url} answered {response.status_code}: {response_problem(response)}')
    response.raise_for_status()
    entries: list[dict[str, Any]] = response.json()  # NOTE: PatientOut of app/api/patients.py
    return [ListedPatient(mrn=e['mrn'], ward=e['ward_name'], bed=e['bed'], spo2_scale=e['spo2_scale'])
            for e in entries]
