"""Typed ORM models: the persistent shape of Vigil's domain."""

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .types import UTCDateTime

NAMING = {
    'ix': 'ix_%(column_0_label)s',
    'uq': 'uq_%(table_name)s_%(column_0_name)s',
    'ck': 'ck_%(table_name)s_%(constraint_name)s',
    'fk': 'fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s',
    'pk': 'pk_%(table_name)s',
}

# NOTE: the partial-index predicate below must match OPEN_STATUSES in data/enums.py.
OPEN_ALERT_PREDICATE = "status IN ('active', 'acknowledged')"
OPEN_PATIENT_ALERT_PREDICATE = f'{OPEN_ALERT_PREDICATE} AND patient_id IS NOT NULL'
OPEN_WARD_ALERT_PREDICATE = f'{OPEN_ALERT_PREDICATE} AND patient_id IS NULL'


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class Hospital(Base):
    __tablename__ = 'hospitals'

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Last sequence number handed to an event of this hospital (bumped inside the writing transaction).
    event_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text('0'))
    created_at: Mapped[datetime]
    # A device token that sent readings and then stays silent this long raises a heartbeat alert.
    device_silence_seconds: Mapped[int] = mapped_column(Integer, default=120, server_default=text('120'))
    # Whether detected alerts latch (stay until a person resolves them) is the hospital's decision, not a user's.
    alarms_latch: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # A reading measured longer ago than this when it arrives is history only: never "latest", never alerting.
    stale_reading_hours: Mapped[int] = mapped_column(Integer, default=24, server_default=text('24'))
    # NEWS2: the hospital's maximum age per parameter, {vital kind: minutes} over the defaults (None: defaults).
    news2_max_age_minutes: Mapped[dict[str, int] | None] = mapped_column(JSON)
    # Observation frequency by NEWS2 band, {band: minutes} over the defaults (None: defaults); grace before alerting.
    observation_minutes: Mapped[dict[str, int] | None] = mapped_column(JSON)
    observation_grace_minutes: Mapped[int] = mapped_column(Integer, default=30, server_default=text('30'))

    wards: Mapped[list['Ward']] = relationship(back_populates='hospital', order_by='Ward.name')


class Ward(Base):
    __tablename__ = 'wards'
    __table_args__ = (UniqueConstraint('hospital_id', 'name', name='uq_wards_hospital_name'),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'), index=True)
    name: Mapped[str] = mapped_column(String(100))

    hospital: Mapped[Hospital] = relationship(back_populates='wards')


class UserWard(Base):
    __tablename__ = 'user_wards'

    user_id: Mapped[int] = mapped_column(ForeignKey('users.id', ondelete='CASCADE'), primary_key=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey('wards.id', ondelete='CASCADE'), primary_key=True)


class User(Base):
    __tablename__ = 'users'

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    password_changed_at: Mapped[datetime]
    created_at: Mapped[datetime]
    # Sessions signed in before this moment are no longer valid ("log out on all devices").
    sessions_revoked_at: Mapped[datetime | None]

    wards: Mapped[list[Ward]] = relationship(secondary='user_wards', order_by='Ward.name')


class SignInThrottle(Base):
    """Failed sign-ins counted under one key (app/domain/throttle.py): an empty username or address means "any".

    Keyed on the username as typed, whether or not such an account exists, so the throttle reveals nothing.
    """

    __tablename__ = 'sign_in_throttles'
    __table_args__ = (UniqueConstraint('username', 'address', name='uq_sign_in_throttles_username_address'),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    # The decaying count of failures as it stood at counted_at.
    failures: Mapped[float] = mapped_column(Float)
    counted_at: Mapped[datetime] = mapped_column(index=True)
    blocked_until: Mapped[datetime | None]
    # Attempts refused while blocked (never checked against a password), since the last counted failure.
    refused: Mapped[int] = mapped_column(Integer, default=0, server_default=text('0'))
    # A pair only: when this account last signed in from this address (makes it the account's known address).
    signed_in_at: Mapped[datetime | None]


class Patient(Base):
    __tablename__ = 'patients'
    __table_args__ = (UniqueConstraint('hospital_id', 'mrn', name='uq_patients_hospital_mrn'),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'), index=True)
    ward_id: Mapped[int] = mapped_column(ForeignKey('wards.id'), index=True)
    mrn: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    bed: Mapped[str] = mapped_column(String(32))
    # NEWS2 SpO2 scale 2 is a clinician's decision per patient (hypercapnic respiratory failure).
    spo2_scale: Mapped[int] = mapped_column(Integer, default=1, server_default=text('1'))
    # Who prescribed the current scale, when and why (None: never changed since admission; scale 1 by default).
    spo2_scale_set_at: Mapped[datetime | None]
    spo2_scale_set_by: Mapped[str | None] = mapped_column(String(200))
    spo2_scale_reason: Mapped[str | None] = mapped_column(Text)
    admitted_at: Mapped[datetime]
    # When the next full set of NEWS2 observations is due (from the last full set and its score; None: not known).
    observations_due_at: Mapped[datetime | None] = mapped_column(index=True)

    ward: Mapped[Ward] = relationship()


class VitalReading(Base):
    __tablename__ = 'vital_readings'
    __table_args__ = (Index('ix_vital_readings_patient_kind_time', 'patient_id', 'kind', 'measured_at'),
                      Index('ix_vital_readings_hospital_observation', 'hospital_id', 'observation_id'))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, 'sqlite'), primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'))
    patient_id: Mapped[int] = mapped_column(ForeignKey('patients.id', ondelete='CASCADE'))
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    measured_at: Mapped[datetime]
    recorded_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(100))
    # The FHIR Observation the reading came in (both readings of a blood pressure panel share one); None for readings
    # sent any other way, whose Observation id is the reading's own id.
    observation_id: Mapped[str | None] = mapped_column(String(64))


class LatestVital(Base):
    """The newest reading of each kind per patient, kept up to date on ingest (dashboards read only this)."""

    __tablename__ = 'latest_vitals'

    patient_id: Mapped[int] = mapped_column(ForeignKey('patients.id', ondelete='CASCADE'), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(16))
    measured_at: Mapped[datetime]


class Alert(Base):
    __tablename__ = 'alerts'
    __table_args__ = (
        Index('ix_alerts_hospital_status', 'hospital_id', 'status'),
        # At most one open alert per dedup key and patient (or ward, for ward alerts), even under concurrent
        # writers: the same key for another patient or ward is another alert, never an occurrence of this one.
        Index(
            'uq_alerts_open_dedup_patient', 'hospital_id', 'patient_id', 'dedup_key', unique=True,
            sqlite_where=text(OPEN_PATIENT_ALERT_PREDICATE), postgresql_where=text(OPEN_PATIENT_ALERT_PREDICATE),
        ),
        Index(
            'uq_alerts_open_dedup_ward', 'hospital_id', 'ward_id', 'dedup_key', unique=True,
            sqlite_where=text(OPEN_WARD_ALERT_PREDICATE), postgresql_where=text(OPEN_WARD_ALERT_PREDICATE),
        ),
        Index(
            'ix_alerts_escalation_due', 'next_escalation_at',
            sqlite_where=text("status = 'active'"), postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'))
    ward_id: Mapped[int] = mapped_column(ForeignKey('wards.id'), index=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey('patients.id', ondelete='SET NULL'), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(15))
    message: Mapped[str] = mapped_column(Text)
    dedup_key: Mapped[str | None] = mapped_column(String(200))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    next_escalation_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    last_triggered_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    # Latching: the condition that raised the alert recovered at this time (None while it persists).
    cleared_at: Mapped[datetime | None]
    # Re-alerting of this trigger is paused until then; the alert itself stays visible.
    snoozed_until: Mapped[datetime | None]
    # The escalation ladder runs from here: raising, or a re-alarm (priority rose), which restarts it at the
    # escalation level the alert had then (None, 0: from created_at and level 0).
    escalation_anchor_at: Mapped[datetime | None]
    escalation_anchor_level: Mapped[int] = mapped_column(Integer, default=0, server_default=text('0'))
    # What the headline describes, as detection compares it (e.g. NEWS2 total and sub-scores): a change rewrites
    # the headline; None for alerts whose text never changes.
    condition: Mapped[str | None] = mapped_column(String(200))

    patient: Mapped[Patient | None] = relationship()
    ward: Mapped[Ward] = relationship()

    __mapper_args__ = {'version_id_col': version}


class AlertEvent(Base):
    """One line of the audit trail. Append-only: database triggers refuse UPDATE and DELETE."""

    __tablename__ = 'alert_events'

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, 'sqlite'), primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey('alerts.id'), index=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id'), index=True)
    type: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(200))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))
    from_status: Mapped[str | None] = mapped_column(String(15))
    to_status: Mapped[str] = mapped_column(String(15))
    escalation_level: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class PatientEvent(Base):
    """One line of a patient's clinical record trail (e.g. an SpO2 scale prescribed). Append-only, like alerts'."""

    __tablename__ = 'patient_events'

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, 'sqlite'), primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id'), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey('patients.id'), index=True)
    type: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey('users.id', ondelete='SET NULL'))
    note: Mapped[str] = mapped_column(Text)


class ApiToken(Base):
    __tablename__ = 'api_tokens'
    __table_args__ = (UniqueConstraint('hospital_id', 'name', name='uq_api_tokens_hospital_name'),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    # SHA-256 of the secret: tokens are 256-bit random, so a slow hash adds nothing but latency.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # Device heartbeat: when the token last sent readings, for which ward, and since when it is reported silent.
    last_seen_at: Mapped[datetime | None]
    last_ward_id: Mapped[int | None] = mapped_column(ForeignKey('wards.id', ondelete='SET NULL'))
    silent_since: Mapped[datetime | None]


class EventLogEntry(Base):
    """Durable, ordered log of every published event, per hospital (resumable streams read it)."""

    __tablename__ = 'event_log'

    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class CriticalLimit(Base):
    """A hospital's override of one parameter's critical limits and persistence delay (no row: the defaults)."""

    __tablename__ = 'critical_limits'

    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    low: Mapped[float | None] = mapped_column(Float)
    high: Mapped[float | None] = mapped_column(Float)
    persistence_seconds: Mapped[int] = mapped_column(Integer, default=0)
    persistence_readings: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(200))


class EscalationPolicy(Base):
    """A hospital's escalation steps for one priority, minutes after raising (no row: the defaults)."""

    __tablename__ = 'escalation_policies'

    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'), primary_key=True)
    priority: Mapped[str] = mapped_column(String(10), primary_key=True)
    minutes: Mapped[list[int]] = mapped_column(JSON)
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(200))


class TriggerState(Base):
    """Persistence delay bookkeeping: since when, and for how many readings, a trigger's condition has held."""

    __tablename__ = 'trigger_states'

    patient_id: Mapped[int] = mapped_column(ForeignKey('patients.id', ondelete='CASCADE'), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(100), primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'), index=True)
    breach_since: Mapped[datetime]
    readings: Mapped[int] = mapped_column(Integer, default=1)
    last_at: Mapped[datetime]


class Snooze(Base):
    """A time-limited pause of one trigger for one patient, set by a charge nurse or physician."""

    __tablename__ = 'snoozes'
    __table_args__ = (Index('ix_snoozes_patient_trigger', 'patient_id', 'trigger', 'until'),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'), index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey('patients.id', ondelete='CASCADE'))
    trigger: Mapped[str] = mapped_column(String(100))
    until: Mapped[datetime]
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)


class IdempotencyKey(Base):
    """The stored answer to a request sent with an Idempotency-Key, so a retry repeats it instead of the write."""

    __tablename__ = 'idempotency_keys'

    token_id: Mapped[int] = mapped_column(ForeignKey('api_tokens.id', ondelete='CASCADE'), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, object] | list[object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)


class RuleChange(Base):
    """One change of a hospital's alarm rules (who, when, what). Append-only like the alert audit trail."""

    __tablename__ = 'rule_changes'

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    change: Mapped[str] = mapped_column(Text)


class Hl7Sender(Base):
    """An HL7 v2 sending application and facility (MSH-3, MSH-4) registered to one hospital.

    MLLP has no credentials: the registration (and, optionally, the addresses it may send from) is what makes a
    monitor gateway's messages land in one hospital and no other.
    """

    __tablename__ = 'hl7_senders'
    __table_args__ = (UniqueConstraint('application', 'facility', name='uq_hl7_senders_application_facility'),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'), index=True)
    application: Mapped[str] = mapped_column(String(200))
    facility: Mapped[str] = mapped_column(String(200))
    # Comma-separated addresses or networks (10.20.0.0/24) it may send from; empty: any address.
    allowed_from: Mapped[str] = mapped_column(Text, default='')
    created_at: Mapped[datetime]


class Hl7Message(Base):
    """A message a sender's control id (MSH-10) was answered AA for, stored in the transaction of its write: a
    repeat is answered AA again and changes nothing."""

    __tablename__ = 'hl7_messages'

    sender_id: Mapped[int] = mapped_column(ForeignKey('hl7_senders.id', ondelete='CASCADE'), primary_key=True)
    control_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    message_type: Mapped[str] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(index=True)


class WebhookSubscription(Base):
    """A hospital's outbound webhook: where alert events go, which of them, and the secret that signs them."""

    __tablename__ = 'webhook_subscriptions'
    __table_args__ = (UniqueConstraint('hospital_id', 'name', name='uq_webhook_subscriptions_hospital_name'),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'), index=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str] = mapped_column(String(2000))
    # The HMAC key itself (it must sign), never shown again after creation; see README "Webhooks" on its protection.
    secret: Mapped[str] = mapped_column(String(100))
    # Filters: None matches everything; otherwise lists of priorities, ward ids and event types (app.webhooks.rules).
    priorities: Mapped[list[str] | None] = mapped_column(JSON)
    wards: Mapped[list[int] | None] = mapped_column(JSON)
    event_types: Mapped[list[str] | None] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(200))


class WebhookDelivery(Base):
    """The outbox: one event for one subscription, written in the event's own transaction, sent by a worker."""

    __tablename__ = 'webhook_deliveries'
    __table_args__ = (
        UniqueConstraint('subscription_id', 'event_seq', name='uq_webhook_deliveries_subscription_seq'),
        # The worker's query: pending deliveries whose time has come.
        Index('ix_webhook_deliveries_due', 'status', 'next_attempt_at'),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey('hospitals.id', ondelete='CASCADE'), index=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey('webhook_subscriptions.id', ondelete='CASCADE'))
    event_seq: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(40))
    # The exact bytes sent (and signed) on every attempt, so a retry is the same message.
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    # Every attempt ever made (also the fence of a claim); `streak` counts those since the last manual retry.
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text('0'))
    streak: Mapped[int] = mapped_column(Integer, default=0, server_default=text('0'))
    # While pending: when the next attempt is due; while an attempt runs: when its claim lapses.
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))


class WebhookAttempt(Base):
    """One try at sending a delivery: when, how long, the receiver's status code or the error."""

    __tablename__ = 'webhook_attempts'

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey('webhook_deliveries.id', ondelete='CASCADE'), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    milliseconds: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500))
