"""Prometheus metrics of one Vigil process, in a registry of its own (never the library's global one).

Counters that already exist as plain numbers (events published and delivered by the bus, readings stored by the
patient service) are read at scrape time by a collector instead of being counted twice; alert counts come from the
database at scrape time. Each process reports its own work: Prometheus sums the processes.
"""

import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from app.domain import AlertStatus, Priority
from app.events import BaseEvent, EventBus
from app.uow import Database
from data.models import Alert

# Event delivery: from the moment the event happened (its occurred_at) to its arrival at this process's bus.
DELIVERY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

SessionCounts = Callable[[], Mapping[int, int]]


class Telemetry:
    """The metrics of one process: histograms fed as things happen, everything else read at scrape time."""

    def __init__(self, bus: EventBus, readings_stored: Callable[[], int]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.delivery_seconds = Histogram(
            'vigil_event_delivery_seconds', 'Seconds from an event happening to its arrival at this process',
            buckets=DELIVERY_BUCKETS, registry=self.registry)
        self.http_seconds = Histogram(
            'vigil_http_request_duration_seconds', 'Seconds to answer an HTTP request (not the live sockets)',
            ['method', 'route', 'status'], buckets=HTTP_BUCKETS, registry=self.registry)
        self.hl7_messages = Counter(
            'vigil_hl7_messages', 'HL7 v2 messages this process answered, by message type and acknowledgement code',
            ['type', 'ack'], registry=self.registry)
        self.hl7_unknown_senders = Counter(
            'vigil_hl7_unknown_sender_messages', 'HL7 v2 messages refused (AR) because their sender is not registered '
            'or sent from an address its registration does not allow', registry=self.registry)
        self.alert_counts: dict[tuple[str, str], int] = {}
        # Set by the UI layer (which knows the open pages): connected sessions per hospital id.
        self.session_counts: SessionCounts = dict
        self._bus = bus
        self._readings_stored = readings_stored
        self.registry.register(_ScrapeTimeCollector(self))
        bus.on_delivery(self._delivered)

    def _delivered(self, event: BaseEvent) -> None:
        self.delivery_seconds.observe(max(0.0, time.time() - event.occurred_at.timestamp()))

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one answered HTTP request."""
        self.http_seconds.labels(method, route, f'{status // 100}xx').observe(seconds)

    async def refresh(self, db: Database) -> None:
        """Read the alert counts by status and priority from the database (call before rendering)."""
        counts = {(status.value, priority.value): 0 for status in AlertStatus for priority in Priority}
        async with db.read() as session:
            rows = await session.execute(
                select(Alert.status, Alert.priority, func.count()).group_by(Alert.status, Alert.priority))
            for status, priority, count in rows:
                counts[(str(status), str(priority))] = count
        self.alert_counts = counts

    def render(self) -> bytes:
        """Return every metric in Prometheus' text format."""
        return generate_latest(self.registry)

    # --- read by the collector -----------------------------------------------------------------------------------

    @property
    def bus(self) -> EventBus:
        return self._bus

    def readings_stored(self) -> int:
        return self._readings_stored()


class _ScrapeTimeCollector(Collector):
    """Reports the numbers other parts keep anyway, as they are at the moment of the scrape."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry

    def describe(self) -> Iterator[Metric]:
        return iter(())  # names are only known at collect(): nothing to check against duplicates up front

    def collect(self) -> Iterator[Metric]:
        telemetry = self._telemetry
        bus = telemetry.bus
        sessions = GaugeMetricFamily('vigil_ui_sessions', 'Open staff and kiosk pages on this process',
                                     labels=['hospital_id'])
        for hospital_id, count in sorted(telemetry.session_counts().items()):
            sessions.add_metric([str(hospital_id)], count)
        yield sessions
        published = CounterMetricFamily('vigil_events_published', 'Events this process published after commit',
                                        labels=['type'])
        for event_type, count in sorted(bus.published_by_type.items()):
            published.add_metric([event_type], count)
        yield published
        yield CounterMetricFamily('vigil_events_delivered', 'Events handed to subscribers of this process',
                                  value=bus.delivered)
        yield CounterMetricFamily('vigil_escalations', 'Alert escalations this process performed',
                                  value=bus.published_by_type.get('AlertEscalated', 0))
        yield CounterMetricFamily('vigil_readings_ingested', 'Vital-sign readings this process stored',
                                  value=telemetry.readings_stored())
        alerts = GaugeMetricFamily('vigil_alerts', 'Alerts in the database by status and priority',
                                   labels=['status', 'priority'])
        for (status, priority), count in sorted(telemetry.alert_counts.items()):
            alerts.add_metric([status, priority], count)
        yield alerts
