"""The MLLP listener: HL7 v2 messages from monitor gateways in, one ACK out for each, after the commit.

Framing is the `hl7` package's asyncio MLLP server. Each message is answered in order on its connection: AA only
once what it carries is committed (with its control id), AE with an ERR segment naming the bad field (nothing of
the message is stored), AR for a message refused as a whole (unknown sender, unsupported type, version or
processing id, or a failure to store it: the sender should send it again).
"""

import asyncio
import logging
import re
import socket
from contextlib import suppress
from typing import Any

from hl7.mllp import InvalidBlockError, start_hl7_server  # type: ignore[import-untyped]  # ships no type information

from app.clock import Clock
from app.errors import DomainError, PatientNotFound
from app.observability.metrics import Telemetry
from app.schemas import VitalReadingIn
from app.services.hl7_feeds import STARTING_PHASES, Hl7FeedService, SenderView
from app.services.patients import MAX_FUTURE_SKEW

from .message import AckCode, Header, HL7Error, Location, acknowledgement, header, parse
from .pcd import device_alarm, observations, parse_hl7_time, patient_mrn

log = logging.getLogger('vigil.mllp')
OBSERVATIONS = 'ORU^R01'  # IHE PCD-01
ALARMS = 'ORU^R40'  # IHE PCD-04
MAX_MESSAGE_BYTES = 1024 * 1024
CONTROL_CHARACTERS = re.compile(r'[\x00-\x1f\x7f]+')


class MllpListener:
    """Serves MLLP on one address; start() and stop() run with the web server."""

    def __init__(self, feeds: Hl7FeedService, clock: Clock, telemetry: Telemetry, *, host: str, port: int) -> None:
        self._feeds = feeds
        self._clock = clock
        self._telemetry = telemetry
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._socket: socket.socket | None = None
        self._connections: dict[asyncio.Task[None], Any] = {}  # task -> its writer
        self._busy: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def port(self) -> int:
        """Return the port listened on (the one the system chose when configured as 0)."""
        assert self._server is not None, 'not started'
        return int(self._server.sockets[0].getsockname()[1])

    def bind(self) -> None:
        """Claim the port now, before the web server starts: a configured feed that cannot listen stops start-up
        instead of leaving Vigil running deaf to its monitors. Raises OSError."""
        family, _, _, _, address = socket.getaddrinfo(self._host, self._port, type=socket.SOCK_STREAM,
                                                      flags=socket.AI_PASSIVE)[0]
        self._socket = socket.create_server(address[:2], family=family)

    async def start(self) -> None:
        """Listen (on the port bind() claimed, else bind now); a failure is logged and raised."""
        try:
            if self._socket is None:
                self.bind()
            self._server = await start_hl7_server(self._connected, sock=self._socket, limit=MAX_MESSAGE_BYTES)
        except OSError as error:
            log.error('HL7 listener cannot listen on %s:%d: %s', self._host, self._port, error,
                      extra={'event': 'hl7.listen_failed'})
            raise
        finally:
            self._socket = None  # the server owns it now (or it failed)
        log.info('HL7 v2 (MLLP) listener on %s:%d', self._host, self.port,
                 extra={'event': 'hl7.listening', 'host': self._host, 'port': self.port})

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop accepting; let messages being stored finish and get their ACK (up to the grace), then close."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for task, writer in list(self._connections.items()):
            if task not in self._busy:
                writer.close()  # waiting for a message: nothing is lost by closing now
        tasks = list(self._connections)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            with suppress(asyncio.CancelledError):
                await asyncio.gather(*pending, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _connected(self, reader: Any, writer: Any) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer  # NOTE: also the reference that keeps the library's task alive
        peer = writer.get_extra_info('peername')
        address = str(peer[0]) if isinstance(peer, tuple) else None
        try:
            while not self._stopping:
                try:
                    block = await reader.readblock()
                except (asyncio.IncompleteReadError, ConnectionError):
                    return  # the sender closed the connection
                except (ValueError, InvalidBlockError) as error:  # longer than MAX_MESSAGE_BYTES, or not MLLP
                    log.warning('HL7 connection from %s closed: %s', address, error,
                                extra={'event': 'hl7.bad_frame', 'address': address})
                    return
                if writer.is_closing():
                    # stop() closed this idle connection while the message was arriving: it is neither stored nor
                    # answered, so the sender sends it again (to this process once restarted, or another).
                    return
                self._busy.add(task)
                try:
                    answer = await self.answer(block, address)
                    try:
                        writer.writeblock(answer.encode())
                        await writer.drain()
                    except (ConnectionError, RuntimeError) as error:  # uvloop raises RuntimeError on a closed one
                        log.warning('HL7 ACK to %s not sent, the connection is gone: %s', address, error,
                                    extra={'event': 'hl7.ack_unsent', 'address': address})
                        return
                finally:
                    self._busy.discard(task)
        finally:
            self._connections.pop(task, None)
            writer.close()
            with suppress(ConnectionError, OSError):
                await writer.wait_closed()

    async def answer(self, block: bytes, address: str | None) -> str:
        """Process one message and return its ACK (never raises: every outcome is an answer)."""
        try:
            text = block.decode('utf-8')
        except UnicodeDecodeError:
            text = block.decode('latin-1')  # HL7's default character set, ISO 8859-1
        message: Any = None
        kind = 'unknown'
        try:
            message = parse(text)
            head = header(message)
            kind = head.message_type if head.message_type in (OBSERVATIONS, ALARMS) else 'other'
            sender = await self._sender(head, address)
            await self._process(message, head, sender)
            ack: AckCode = 'AA'
            error: HL7Error | None = None
        except HL7Error as refusal:
            ack, error = refusal.ack, refusal
        except PatientNotFound:
            ack, error = 'AE', HL7Error('AE', HL7Error.UNKNOWN_KEY, Location('PID', 1, 3),
                                        f'no patient with MRN "{patient_mrn(message)}" in this hospital')
        except DomainError as refusal:
            ack, error = 'AE', HL7Error('AE', HL7Error.DATA_TYPE, None, refusal.message)
        except Exception:  # the database, or a fault of ours: the sender must hear of it and send again
            log.exception('HL7 message could not be stored; answered AR so that the sender sends it again')
            ack, error = 'AR', HL7Error('AR', HL7Error.INTERNAL_ERROR, None,
                                        'Vigil could not store the message; send it again')
        if error is not None and error.code != HL7Error.INTERNAL_ERROR:
            log.warning('HL7 %s from %s answered %s: %s', kind, address, ack, error,
                        extra={'event': 'hl7.refused', 'ack': ack, 'address': address,
                               'field': str(error.location) if error.location else None})
        self._telemetry.hl7_messages.labels(kind, ack).inc()
        return acknowledgement(message, ack, error)

    async def _sender(self, head: Header, address: str | None) -> SenderView:
        sender = await self._feeds.sender(head.application, head.facility)
        if sender is None or not sender.allows(address):
            self._telemetry.hl7_unknown_senders.inc()
            why = 'is not registered' if sender is None else f'may not send from {address}'
            log.warning('HL7 message from unknown sender %s^%s at %s refused (AR): it %s; register it with '
                        '`python main.py mllp register`', head.application, head.facility, address, why,
                        extra={'event': 'hl7.unknown_sender', 'application': head.application,
                               'facility': head.facility, 'address': address})
            raise HL7Error.reject(HL7Error.UNKNOWN_KEY, Location('MSH', 1, 3),
                                  f'sender {head.application}^{head.facility} {why}')
        if head.message_type not in (OBSERVATIONS, ALARMS):
            raise HL7Error.reject(HL7Error.UNSUPPORTED_MESSAGE_TYPE, Location('MSH', 1, 9),
                                  f'{head.message_type} is not accepted: send ORU^R01 (PCD-01) or ORU^R40 (PCD-04)')
        if head.processing_id != 'P':
            raise HL7Error.reject(HL7Error.UNSUPPORTED_PROCESSING_ID, Location('MSH', 1, 11),
                                  f'processing id "{head.processing_id}": only production (P) messages are stored')
        if not head.version.startswith('2.'):
            raise HL7Error.reject(HL7Error.UNSUPPORTED_VERSION, Location('MSH', 1, 12),
                                  f'version "{head.version}": HL7 v2 (2.x) only')
        return sender

    async def _process(self, message: Any, head: Header, sender: SenderView) -> None:
        if await self._feeds.seen(sender, head.control_id):
            log.info('HL7 %s %s from %s^%s repeated: answered AA again, nothing stored twice', head.message_type,
                     head.control_id, head.application, head.facility, extra={'event': 'hl7.repeat'})
            return
        now = self._clock()
        sent_at = parse_hl7_time(head.sent, Location('MSH', 1, 7)) if head.sent else now
        mrn = patient_mrn(message)
        if head.message_type == OBSERVATIONS:
            readings = []
            for item in observations(message, sent_at):
                if item.measured_at > now + MAX_FUTURE_SKEW:
                    raise HL7Error.bad(Location('OBX', item.index, 14), f'measured at {item.measured_at.isoformat()}'
                                       ', more than 5 minutes ahead of the server clock')
                readings.append(VitalReadingIn(patient_mrn=mrn, kind=item.kind, value=item.value, unit=item.unit,
                                               measured_at=item.measured_at))
            await self._feeds.record_readings(sender, head.control_id, head.message_type, readings)
            return
        alarm = device_alarm(message, sent_at)
        text = CONTROL_CHARACTERS.sub(' ', f'Monitor alarm: {alarm.text}')[:500]
        await self._feeds.report_alarm(sender, head.control_id, head.message_type, mrn, dedup_key=alarm.dedup_key,
                                       priority=alarm.priority, ended=alarm.ended,
                                       latched_at_device=alarm.state == 'latched',
                                       starting=alarm.phase in STARTING_PHASES, message=text)
