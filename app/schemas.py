"""Pydantic views and commands: what services accept and return (never ORM objects)."""

import math
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from app.domain import AlertEventType, AlertKind, AlertStatus, Priority, Role, TokenKind, VitalKind
from app.domain.actors import recorded_person
from app.domain.observations import ObservationBand


class View(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)


class HospitalView(View):
    id: int
    slug: str
    name: str


class WardView(View):
    id: int
    hospital_id: int
    name: str


class UserView(View):
    id: int
    hospital_id: int
    username: str
    display_name: str
    role: Role
    ward_ids: tuple[int, ...] = ()
    active: bool = True


class ThrottleView(View):
    """Failed sign-ins counted under one key: an account (from anywhere), an address, or an account from an address."""

    username: str | None  # None: any account
    address: str | None  # None: any address
    failures: float  # decayed to now
    blocked_until: datetime | None  # None or past: not blocked now, only counting
    refused: int


class AccountState(View):
    """What open pages of a user depend on: whether the account is active, its sign-ins, its role and wards."""

    user_id: int
    hospital_id: int
    active: bool
    role: Role
    ward_ids: tuple[int, ...]
    sessions_revoked_at: datetime | None


class Actor(View):
    """Who is acting: a signed-in user, an API token, or the system itself (CLI, escalation)."""

    kind: Literal['user', 'token', 'system']
    hospital_id: int | None
    # As the record names who acted (domain.actors): "Jordan Ellis (charge)", "token:ward-monitor", "escalation".
    name: str
    user_id: int | None = None
    role: Role | None = None
    ward_ids: tuple[int, ...] = ()
    token_id: int | None = None
    token_kind: TokenKind | None = None

    @classmethod
    def system(cls, name: str = 'system', hospital_id: int | None = None) -> 'Actor':
        """Return the actor for work the system does on its own (escalation, operator CLI, detection)."""
        return cls(kind='system', hospital_id=hospital_id, name=name)

    @classmethod
    def for_user(cls, user: UserView) -> 'Actor':
        """Return the actor for a signed-in user, named as the record names people ("Jordan Ellis (charge)")."""
        return cls(kind='user', hospital_id=user.hospital_id, name=recorded_person(user.display_name, user.username),
                   user_id=user.id, role=user.role, ward_ids=user.ward_ids)


# NOTE: the names domain.actors records; API clients show them as they are.
ACTOR_DESCRIPTION = ('Who acted, as recorded at the time: a signed-in user as "display name (username)", e.g. '
                     '"Jordan Ellis (charge)" (older records: the username alone); a person through an integration '
                     'as "person (via token:name)"; "token:name" for a device; "escalation" or "detection" for Vigil '
                     'itself.')


class AlertView(View):
    id: int
    hospital_id: int
    ward_id: int
    ward_name: str
    patient_id: int | None
    patient_name: str | None
    patient_mrn: str | None
    bed: str | None
    kind: AlertKind
    priority: Priority
    status: AlertStatus
    message: str
    dedup_key: str | None
    occurrences: int
    escalation_level: int
    next_escalation_at: datetime | None
    created_at: datetime
    created_by: str = Field(description=ACTOR_DESCRIPTION)
    last_triggered_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None = Field(description=ACTOR_DESCRIPTION)
    resolved_at: datetime | None
    resolved_by: str | None = Field(description=ACTOR_DESCRIPTION)
    version: int
    # Latching: when the condition that raised the alert recovered (None while it persists or for manual alerts).
    cleared_at: datetime | None = None
    # Re-alerting of this trigger is paused until then (the alert itself stays visible).
    snoozed_until: datetime | None = None
    # When the alert last became an alarm: raised, or re-alarmed at a higher priority (a new alarm condition,
    # CLINICAL.md); "longest waiting" in the needs-attention order counts from here (domain.alerts.attention_key).
    waiting_since: datetime

    @model_validator(mode='before')
    @classmethod
    def _waiting_since_defaults_to_raising(cls, data: object) -> object:
        # NOTE: snapshots from before waiting_since existed (another process of an older version on the bus, a view
        # built by hand) waited since they were raised.
        if isinstance(data, dict) and data.get('waiting_since') is None:
            return {**data, 'waiting_since': data.get('created_at')}
        return data

    @property
    def is_open(self) -> bool:
        return self.status is not AlertStatus.RESOLVED


class AuditEntryView(View):
    id: int
    alert_id: int
    hospital_id: int
    type: AlertEventType
    at: datetime
    actor: str
    from_status: AlertStatus | None
    to_status: AlertStatus
    escalation_level: int
    note: str | None


class NewAlert(BaseModel):
    """A request to raise an alert for a patient, or for a ward when no patient is concerned."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    priority: Priority
    message: str = Field(min_length=1, max_length=500)
    patient_id: int | None = None
    ward_id: int | None = None
    kind: AlertKind = AlertKind.MANUAL
    dedup_key: str | None = Field(default=None, min_length=1, max_length=200)


# attention: the needs-attention order (domain.alerts.attention_key); newest: newest raised first.
AlertSort = Literal['attention', 'newest']


class AlertFilter(BaseModel):
    model_config = ConfigDict(frozen=True)

    ward_id: int | None = None
    statuses: tuple[AlertStatus, ...] = (AlertStatus.ACTIVE, AlertStatus.ACKNOWLEDGED)
    priorities: tuple[Priority, ...] = ()
    patient_id: int | None = None
    limit: int = Field(default=500, ge=1, le=5000)
    sort: AlertSort = 'attention'


class VitalValue(View):
    value: float
    unit: str
    measured_at: datetime


class PendingScore(View):
    """A parameter whose new value is still inside its persistence delay: shown, not yet counted at its new points."""

    points: int  # what the value would score
    counted: int  # what counts until it has lasted the delay (the level that has persisted)
    seconds_left: float | None  # of the delay's time, as of the latest reading (None: it waits for more readings)


class News2View(View):
    """A patient's NEWS2 from the latest reading of each parameter (RCP 2017), built by domain.news2.explain only."""

    # Sum of the parameters counted: while any is missing or stale this is a lower bound, never a full score.
    total: int
    # Points counted per parameter (heart_rate, resp_rate, spo2, on_oxygen, systolic_bp, temperature,
    # consciousness); diastolic pressure is not part of NEWS2. A pending parameter counts its persisted level.
    sub_scores: dict[VitalKind, int] = Field(default_factory=dict)
    # Never measured, or (also listed in `stale`) measured too long ago to count.
    missing: tuple[VitalKind, ...] = ()
    # Parameters whose latest value is older than the hospital's maximum age: age in seconds.
    stale: dict[VitalKind, float] = Field(default_factory=dict)
    pending: dict[VitalKind, PendingScore] = Field(default_factory=dict)
    # 'low' (0-4), 'low-medium' (a single parameter scoring 3), 'medium' (5-6), 'high' (7+).
    risk: Literal['low', 'low-medium', 'medium', 'high']
    # The one explanation staff read everywhere (alert headline, card, patient page, API), e.g.
    # "NEWS2 7 (high risk, emergency response): SpO2 88 % (3), ...; stale: temperature (14 h)".
    explanation: str = ''

    @property
    def complete(self) -> bool:
        return not self.missing


class PatientView(View):
    id: int
    hospital_id: int
    ward_id: int
    ward_name: str
    mrn: str
    name: str
    bed: str
    spo2_scale: int
    latest: dict[VitalKind, VitalValue] = Field(default_factory=dict)
    # Filled by the patient service from `latest` (None only where a caller builds a view by hand).
    news2: News2View | None = None
    # When the next full set of NEWS2 observations is due (RCP chart 4); None before the first reading.
    observations_due_at: datetime | None = None
    # The time this view describes (ages of values and lateness of observations are counted to it).
    as_of: datetime | None = None
    # Who prescribed the current SpO2 scale, when and why (None: never changed since admission).
    spo2_scale_set_at: datetime | None = None
    spo2_scale_set_by: str | None = None
    spo2_scale_reason: str | None = None


class PatientEventView(View):
    """One line of a patient's trail (e.g. an SpO2 scale prescribed), as recorded."""

    id: int
    hospital_id: int
    patient_id: int
    type: str
    at: datetime
    actor: str
    actor_user_id: int | None
    note: str


class VitalReadingIn(BaseModel):
    """One reading as a device or integration sends it."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True)

    patient_mrn: str = Field(min_length=1, max_length=64)
    kind: VitalKind
    value: float
    unit: str = Field(max_length=16)
    measured_at: AwareDatetime
    observation_id: str | None = Field(default=None, max_length=64)  # the FHIR Observation it came in, if any

    @field_validator('value')
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):  # runs for every reading ingested: no float('inf') built per call
            raise ValueError('value must be a finite number')
        return value


class VitalReadingView(View):
    """One stored reading as events carry it."""

    patient_id: int
    kind: VitalKind
    value: float
    unit: str
    measured_at: datetime
    source: str
    # Measured longer before it arrived than the hospital's stale-reading age: stored as history only (never the
    # patient's latest value, never scored or alerted on).
    history_only: bool = False


class TokenView(View):
    id: int
    hospital_id: int
    kind: TokenKind
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


class CreatedToken(View):
    """A new token and its secret; the secret is shown this once and never stored."""

    token: TokenView
    secret: str


class CriticalLimitView(View):
    """One parameter's critical limits as a hospital applies them: its own override, or the default."""

    # A LimitParameter of app/domain/limits.py: a vital sign, or 'spo2_scale2' for patients on SpO2 scale 2.
    parameter: str
    low: float | None
    high: float | None
    persistence_seconds: int
    persistence_readings: int
    is_default: bool
    updated_at: datetime | None = None
    updated_by: str | None = None


class EscalationStepsView(View):
    """Minutes after raising at which an unacknowledged alert of this priority escalates one level."""

    priority: Priority
    minutes: tuple[int, ...]
    is_default: bool
    updated_at: datetime | None = None
    updated_by: str | None = None


class News2MaxAgeView(View):
    """How old a NEWS2 parameter's latest value may be before NEWS2 counts it as missing (and screens say stale)."""

    parameter: VitalKind
    minutes: int
    is_default: bool


class ObservationIntervalView(View):
    """When the next full set of observations is due after a full set scoring in this NEWS2 band (RCP chart 4)."""

    band: ObservationBand
    minutes: int
    is_default: bool


class HospitalRulesView(View):
    """A hospital's alarm rules: critical limits, escalation policy, device heartbeat, latching, data age and
    observation frequency."""

    hospital_id: int
    limits: tuple[CriticalLimitView, ...]
    escalation: tuple[EscalationStepsView, ...]
    device_silence_seconds: int
    alarms_latch: bool
    # A reading measured longer ago than this when it arrives is kept as history only.
    stale_reading_hours: int
    # One per NEWS2 parameter, in chart order.
    news2_max_age_minutes: tuple[News2MaxAgeView, ...]
    # One per band, mildest first.
    observation_minutes: tuple[ObservationIntervalView, ...]
    # How late the next full set may be before an "observations overdue" alert.
    observation_grace_minutes: int


class MetricsView(View):
    """Alert load and response times of one actor's scope (alerts and patients it may see)."""

    hospital_id: int
    computed_at: datetime
    open_by_priority: dict[Priority, int]
    # Alerts waiting for someone: unacknowledged and critical, high or escalated (domain.alerts.is_waiting).
    waiting: int
    # Over alerts acknowledged (resolved) within the last 24 hours; None when there were none.
    median_seconds_to_acknowledge: float | None
    acknowledged_last_24h: int
    median_seconds_to_resolve: float | None
    resolved_last_24h: int
    raised_last_hour: int
    patients_monitored: int

    @property
    def open_total(self) -> int:
        return sum(self.open_by_priority.values())


class RuleChangeView(View):
    """One change of a hospital's alarm rules."""

    id: int
    hospital_id: int
    at: datetime
    actor: str
    change: str
