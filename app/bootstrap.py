"""Wiring: build Vigil's services from Settings, prepare the database, seed the demo."""

import logging
from dataclasses import dataclass

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.clock import Clock, system_clock
from app.config import Settings
from app.events import EventBus, Transport
from app.events.redis_transport import RedisTransport
from app.observability.alert_log import log_alert_transition
from app.observability.metrics import Telemetry
from app.security import PasswordHasher
from app.services.alerts import AlertService
from app.services.audit import AuditService
from app.services.hl7_feeds import Hl7FeedService
from app.services.hospitals import HospitalService
from app.services.kiosk import KioskService
from app.services.metrics import MetricsService
from app.services.patient_history import PatientHistoryService
from app.services.patients import PatientService
from app.services.prescriptions import PrescriptionService
from app.services.rules import RulesService
from app.services.sign_in_throttle import SignInThrottleService
from app.services.tokens import TokenService
from app.services.users import UserService
from app.uow import Database
from app.webhooks.outbox import queue_webhooks
from app.webhooks.service import WebhookService
from data.engine import create_engine, dispose_when_idle, one_writer_at_a_time, session_factories
from data.migrate import upgrade_to_head
from data.seed import SeedReport, seed_demo

log = logging.getLogger(__name__)
# How long closing waits for database work in flight (a query of a page, a commit) to hand its connection back.
CLOSE_GRACE_SECONDS = 5.0


@dataclass
class Vigil:
    """Everything one process needs: settings, engine, bus and the services built on them."""

    settings: Settings
    engine: AsyncEngine
    bus: EventBus
    db: Database
    clock: Clock
    hasher: PasswordHasher
    alerts: AlertService
    patients: PatientService
    prescriptions: PrescriptionService
    users: UserService
    sign_in_throttle: SignInThrottleService
    tokens: TokenService
    hospitals: HospitalService
    metrics: MetricsService
    audit: AuditService
    patient_history: PatientHistoryService
    kiosk: KioskService
    rules: RulesService
    telemetry: Telemetry
    hl7_feeds: Hl7FeedService
    webhooks: WebhookService

    async def close(self) -> None:
        """Stop the bus and close every database connection, after what is using one has finished."""
        await self.bus.close()
        left = await dispose_when_idle(self.engine, CLOSE_GRACE_SECONDS)
        if left:
            log.warning('closed the database with %d connection(s) still in use after %.0f s: their work was cut off',
                        left, CLOSE_GRACE_SECONDS)


def build(settings: Settings, *, clock: Clock = system_clock, transport: Transport | None = None) -> Vigil:
    """Create the services for one process (connects lazily: nothing touches the database yet)."""
    if settings.redis_url and transport is None:
        transport = RedisTransport(settings.redis_url, prefix=settings.redis_prefix)
    engine = create_engine(settings.db_url, sqlite_synchronous=settings.sqlite_synchronous.value)
    writer, reader = session_factories(engine)
    bus = EventBus(transport)
    db = Database(writer, reader, bus, clock, one_writer=one_writer_at_a_time(engine))
    db.before_commit(queue_webhooks)  # alert events and their webhook deliveries commit together
    hasher = PasswordHasher()
    rules = RulesService(db, clock)  # one per process: its cache is shared by detection and escalation
    patients = PatientService(db, clock, rules)
    sign_in_throttle = SignInThrottleService(db, clock)
    bus.on_publish(log_alert_transition)
    return Vigil(
        settings=settings, engine=engine, bus=bus, db=db, clock=clock, hasher=hasher,
        alerts=AlertService(db, clock, rules), patients=patients, prescriptions=PrescriptionService(db, clock, rules),
        users=UserService(db, clock, hasher, sign_in_throttle, bus), sign_in_throttle=sign_in_throttle,
        tokens=TokenService(db, clock), hospitals=HospitalService(db, clock),
        metrics=MetricsService(db, clock),
        audit=AuditService(db), patient_history=PatientHistoryService(db, clock), kiosk=KioskService(db, clock),
        rules=rules, telemetry=Telemetry(bus, lambda: patients.readings_stored),
        hl7_feeds=Hl7FeedService(db, clock, patients, rules),
        webhooks=WebhookService(db, clock),
    )


class StartupError(Exception):
    """The process cannot start; the message is one line for the operator."""


async def migrate(settings: Settings) -> None:
    """Create the database if needed and migrate it to the newest schema."""
    try:
        await upgrade_to_head(settings.db_url)
    except (OSError, SQLAlchemyError) as error:
        reason = (str(getattr(error, 'orig', None) or error).strip().splitlines() or [type(error).__name__])[0]
        where = make_url(settings.db_url).render_as_string(hide_password=True)
        raise StartupError(f'cannot open the database {where}: {reason}') from error


async def seed(vigil: Vigil) -> SeedReport:
    """Seed the demo hospitals, patients and accounts; safe to run any number of times."""
    password = vigil.settings.demo_password.get_secret_value()

    async def hash_password() -> str:
        return await vigil.hasher.hash(password)

    async with vigil.db.uow() as uow:
        report = await seed_demo(uow.session, hash_password, vigil.clock())
        await uow.commit()
    log.info('demo seed: created %s', ', '.join(f'{n} {k}' for k, n in report.created.items()))
    return report
