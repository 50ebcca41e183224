"""Log set-up: readable text lines, or one JSON object per line (VIGIL_LOG_FORMAT=json) for log shippers.

Lines that operators search for carry an `event` tag (`server.start`, `alert.raised`, `connection.opened`, ...),
passed as `extra={'event': ...}` along with any other fields; JSON lines carry them as keys.
"""

import json
import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from app.config import LogFormat, LogLevel
from app.domain.text import is_unsafe

TEXT_FORMAT = '%(asctime)s %(levelname)s %(name)s: %(message)s'
# The logger's own attributes: everything else on a record came in through `extra`.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {'message', 'asctime', 'taskName'}


def escape_line(text: str) -> str:
    """Return text with every character that could end or hide a log line written as an escape (\\n, \\x1b...)."""
    if not any(is_unsafe(c) or c == '\\' for c in text):
        return text
    return ''.join(_escaped(c) for c in text)


def _escaped(character: str) -> str:
    if character == '\\':
        return '\\\\'
    if not is_unsafe(character):
        return character
    named = {'\n': '\\n', '\r': '\\r', '\t': '\\t'}.get(character)
    return named or (f'\\x{ord(character):02x}' if ord(character) < 0x100 else f'\\u{ord(character):04x}')


def field_value(value: object) -> str:
    """Return one extra field's value for a text line: quoted (JSON-style) when it holds spaces, quotes or '='."""
    text = str(value)
    if text and not any(c.isspace() or c in '"=' or is_unsafe(c) for c in text):
        return text
    return json.dumps(text, ensure_ascii=False).replace('\u2028', '\\u2028').replace('\u2029', '\\u2029')


class TextFormatter(logging.Formatter):
    """The classic one-line format, with the event tag and extra fields appended as key=value.

    One record is one line whatever it carries: control characters in the message and in the fields are escaped
    (a name with a newline cannot forge a second line); only a traceback, after the line, spans several lines.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_line(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith('_')}
        if not extras:
            return line
        tag = extras.pop('event', None)
        fields = ' '.join(f'{escape_line(str(k))}={field_value(v)}' for k, v in extras.items())
        head, newline, traceback = line.partition('\n')
        return ' '.join(part for part in (head, f'[{escape_line(str(tag))}]' if tag else '', fields) if part) + \
            newline + traceback


def json_formatter() -> logging.Formatter:
    """Return the JSON formatter: timestamp (ISO 8601, UTC), level, logger, message, then the extra fields."""
    return JsonFormatter('{levelname}{name}{message}', style='{', timestamp=True,
                         rename_fields={'levelname': 'level', 'name': 'logger'})


def configure_logging(level: LogLevel, log_format: LogFormat) -> None:
    """Send every log line (Vigil's, and the web server's) to stderr in the configured format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(json_formatter() if log_format is LogFormat.JSON else TextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.value)


def web_server_logging(log_format: LogFormat) -> dict[str, Any]:
    """Return the web server's logging arguments: with JSON, its loggers go through ours instead of its own."""
    return {'log_config': None} if log_format is LogFormat.JSON else {}
