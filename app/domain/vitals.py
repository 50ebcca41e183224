"""What a plausible vital-sign reading looks like: its unit and the range a living adult can show."""

from dataclasses import dataclass

from data.enums import VitalKind

# How people read the UCUM codes that the API, FHIR and the database keep: the one mapping every screen and every
# message to staff (alert headlines, NEWS2 explanations) uses.
HUMAN_UNITS: dict[str, str] = {
    'mm[Hg]': 'mmHg', 'Cel': '°C', '[degF]': '°F', '/min': '/min', '%': '%', 'L/min': 'L/min', 'l/min': 'L/min',
    '{ACVPU}': 'ACVPU', '{bool}': '',
}


def human_unit(ucum: str) -> str:
    """Return a UCUM unit as staff read it ("mm[Hg]" -> "mmHg", "Cel" -> "°C"); an unknown code as it is."""
    return HUMAN_UNITS.get(ucum, ucum)


@dataclass(frozen=True)
class VitalSpec:
    unit: str  # UCUM, as sent and stored
    low: float
    high: float
    label: str

    @property
    def shown_unit(self) -> str:
        """Return the unit as screens and messages to staff show it."""
        return human_unit(self.unit)


# Units are UCUM codes, as FHIR vital-sign profiles use them. Ranges reject device garbage, not abnormal values:
# anything a real patient could show, however alarming, is accepted so that it can alert.
VITAL_SPECS: dict[VitalKind, VitalSpec] = {
    VitalKind.HEART_RATE: VitalSpec('/min', 0, 350, 'heart rate'),
    VitalKind.RESP_RATE: VitalSpec('/min', 0, 100, 'respiratory rate'),
    VitalKind.SPO2: VitalSpec('%', 0, 100, 'SpO2'),
    VitalKind.SYSTOLIC_BP: VitalSpec('mm[Hg]', 0, 350, 'systolic blood pressure'),
    VitalKind.DIASTOLIC_BP: VitalSpec('mm[Hg]', 0, 250, 'diastolic blood pressure'),
    VitalKind.TEMPERATURE: VitalSpec('Cel', 20, 46, 'temperature'),
    # ACVPU as an ordinal: 0 Alert, 1 new Confusion, 2 Voice, 3 Pain, 4 Unresponsive.
    VitalKind.CONSCIOUSNESS: VitalSpec('{ACVPU}', 0, 4, 'consciousness'),
    VitalKind.ON_OXYGEN: VitalSpec('{bool}', 0, 1, 'supplemental oxygen'),
}


def plausibility_problem(kind: VitalKind, value: float, unit: str) -> str | None:
    """Return why a reading cannot be accepted, or None when it is plausible."""
    spec = VITAL_SPECS[kind]
    if unit != spec.unit:
        return f'{spec.label} must be sent in "{spec.unit}", not "{unit}"'
    if not spec.low <= value <= spec.high:
        return f'{spec.label} {value:g} {unit} is outside the possible range {spec.low:g}-{spec.high:g}'
    if kind in (VitalKind.CONSCIOUSNESS, VitalKind.ON_OXYGEN) and value != int(value):
        return f'{spec.label} must be a whole number'
    return None


ACVPU = ('A', 'C', 'V', 'P', 'U')


def describe(kind: VitalKind, value: float) -> str:
    """Return a reading as staff read it (human units, consciousness as its ACVPU letter, oxygen as air or oxygen)."""
    spec = VITAL_SPECS[kind]
    if kind is VitalKind.CONSCIOUSNESS:
        return f'{spec.label} {ACVPU[min(max(round(value), 0), 4)]} (ACVPU)'
    if kind is VitalKind.ON_OXYGEN:
        return 'on supplemental oxygen' if round(value) else 'on air'
    return f'{spec.label} {value:g} {spec.shown_unit}'
