"""HL7 v2 messages through the `hl7` package: field access, the header, errors that name their field, and ACKs."""

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import hl7  # type: ignore[import-untyped]  # the package ships no type information

AckCode = Literal['AA', 'AE', 'AR']
RECEIVING_APPLICATION = 'VIGIL'
# Answers a message whose own header cannot be read (MSA-2 then stays empty).
UNKNOWN_HEADER = 'MSH|^~\\&|||||||ACK^ACK||P|2.6'


@dataclass(frozen=True)
class Location:
    """Where a problem is (ERR-2): segment id, its sequence in the message, field and component."""

    segment: str
    sequence: int = 1
    field: int | None = None
    component: int | None = None

    def __str__(self) -> str:
        where = self.segment if self.field is None else f'{self.segment}-{self.field}'
        where += f'.{self.component}' if self.component else ''
        return where if self.sequence == 1 else f'{where} (segment {self.sequence})'

    def encoded(self) -> list[str]:
        return [self.segment, str(self.sequence), str(self.field or ''), '', str(self.component or '')]


class HL7Error(Exception):
    """A message Vigil cannot accept: AE (an error in its content) or AR (rejected as a whole), with the HL7 error
    code (table 0357) and the field it is about."""

    REQUIRED_MISSING = 101
    DATA_TYPE = 102
    TABLE_VALUE = 103
    UNSUPPORTED_MESSAGE_TYPE = 200
    UNSUPPORTED_EVENT = 201
    UNSUPPORTED_PROCESSING_ID = 202
    UNSUPPORTED_VERSION = 203
    UNKNOWN_KEY = 204
    INTERNAL_ERROR = 207

    TEXTS = {100: 'Segment sequence error', 101: 'Required field missing', 102: 'Data type error',
             103: 'Table value not found', 200: 'Unsupported message type', 201: 'Unsupported event code',
             202: 'Unsupported processing id', 203: 'Unsupported version id', 204: 'Unknown key identifier',
             207: 'Application internal error'}

    def __init__(self, ack: AckCode, code: int, location: Location | None, text: str) -> None:
        super().__init__(f'{location}: {text}' if location else text)
        self.ack = ack
        self.code = code
        self.location = location
        self.text = text

    @classmethod
    def bad(cls, location: Location, text: str, *, code: int = DATA_TYPE) -> 'HL7Error':
        """An error in one field's content (AE)."""
        return cls('AE', code, location, text)

    @classmethod
    def missing(cls, location: Location, text: str) -> 'HL7Error':
        """A required segment or field that is not there (AE)."""
        return cls('AE', cls.REQUIRED_MISSING, location, text)

    @classmethod
    def reject(cls, code: int, location: Location | None, text: str) -> 'HL7Error':
        """The message as a whole is refused (AR): who sent it, its type, version or processing id."""
        return cls('AR', code, location, text)


@dataclass(frozen=True)
class Header:
    """What MSH says about a message."""

    application: str
    facility: str
    control_id: str
    message_type: str  # e.g. ORU^R01
    processing_id: str
    version: str
    sent: str  # MSH-7 as sent (read with pcd.parse_hl7_time once the sender is known)


def parse(text: str) -> Any:
    """Parse one HL7 v2 message (segments separated by CR, as MLLP carries them); HL7Error AR if it is not one."""
    try:
        message = hl7.parse(text.replace('\r\n', '\r').replace('\n', '\r'))
        message.segment('MSH')
    except (KeyError, IndexError, ValueError, hl7.HL7Exception) as error:
        raise HL7Error.reject(HL7Error.REQUIRED_MISSING, Location('MSH'), f'not an HL7 v2 message: {error}') from None
    return message


def field(segment: Any, number: int, *, component: int = 1, repetition: int = 1) -> str:
    """Return one field's (component's) text, unescaped; '' when it is not there."""
    try:
        return str(segment.extract_field(1, number, repetition, component, 1))
    except IndexError:
        return ''


def repetitions(segment: Any, number: int) -> int:
    """Return how many repetitions a field has (0 when absent)."""
    if segment[0][0] == 'MSH':
        number -= 1
    return len(segment[number]) if number < len(segment) else 0


def segments_of(message: Any, name: str) -> list[Any]:
    """Return every segment with this id, in order (none: an empty list)."""
    return [segment for segment in message if str(segment[0]) == name]


def header(message: Any) -> Header:
    """Read MSH; a control id, message type or a sender that is missing makes the message a reject."""
    msh = message.segment('MSH')
    application = field(msh, 3) or field(msh, 3, component=2)
    facility = field(msh, 4) or field(msh, 4, component=2)
    control_id = field(msh, 10).strip()
    if not control_id:
        raise HL7Error.reject(HL7Error.REQUIRED_MISSING, Location('MSH', 1, 10), 'MSH-10 (message control id) is empty')
    if not application.strip():
        raise HL7Error.reject(HL7Error.REQUIRED_MISSING, Location('MSH', 1, 3), 'MSH-3 (sending application) is empty')
    message_type = f'{field(msh, 9).strip().upper()}^{field(msh, 9, component=2).strip().upper()}'
    return Header(application=application.strip(), facility=facility.strip(), control_id=control_id[:200],
                  message_type=message_type, processing_id=field(msh, 11).strip().upper(),
                  version=field(msh, 12).strip(), sent=field(msh, 7).strip())


def acknowledgement(message: Any | None, ack: AckCode, error: HL7Error | None = None) -> str:
    """Build the ACK for a message (original mode): MSA with the code and the control id, ERR naming the field."""
    answer = None
    source: Any = message
    if source is not None:
        try:
            answer = _create_ack(source, ack)
        except (TypeError, IndexError, KeyError):  # an MSH too broken for the library to answer
            answer = None
    if answer is None:
        control_id = field(message.segment('MSH'), 10) if message is not None else ''
        source = hl7.parse(UNKNOWN_HEADER)
        answer = _create_ack(source, ack)
        answer.segment('MSA').assign_field(source.escape(control_id), 2)
    msh, msa = answer.segment('MSH'), answer.segment('MSA')
    msh.assign_field(datetime.now(UTC).strftime('%Y%m%d%H%M%S+0000'), 7)
    if error is None:
        return str(answer)
    msa.assign_field(source.escape(error.text[:80]), 3)
    err = answer.create_segment([answer.create_field(['ERR'])])
    if error.location is not None:
        for position, part in enumerate(error.location.encoded(), start=1):
            if part:
                err.assign_field(part, 2, 1, position)
    err.assign_field(str(error.code), 3, 1, 1)
    err.assign_field(HL7Error.TEXTS.get(error.code, ''), 3, 1, 2)
    err.assign_field('HL70357', 3, 1, 3)
    err.assign_field('E', 4)
    err.assign_field(source.escape(error.text), 8)
    answer.append(err)
    return str(answer)


def _create_ack(source: Any, ack: AckCode) -> Any:
    with warnings.catch_warnings():
        # NOTE: hl7 0.4.5 stamps MSH-7 with datetime.utcnow(), deprecated on Python 3.12+; it is overwritten after.
        warnings.simplefilter('ignore', DeprecationWarning)
        return source.create_ack(ack_code=ack, message_id=hl7.generate_message_control_id(),
                                 application=RECEIVING_APPLICATION, facility='')
