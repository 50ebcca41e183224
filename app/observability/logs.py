"""Log set-up: readable text lines, or one JSON object per line (VIGIL_LOG_FORMAT=json) for log shippers.

Lines that operators search for carry an `event` tag (`server.start`, `alert.raised`, `connection.opened`, ...),
passed as `extra={'event': ...}` along with any other fields; JSON lines carry them as keys.
"""

import logging
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from app.config import LogFormat, LogLevel

TEXT_FORMAT = '%(asctime)s %(levelname)s %(name)s: %(message)s'
# The logger's own attributes: everything else on a record came in through `extra`.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {'message', 'asctime', 'taskName'}


class TextFormatter(logging.Formatter):
    """The classic one-line format, with the event tag and extra fields appended as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith('_')}
        if not extras:
            return line
        tag = extras.pop('event', None)
        fields = ' '.join(f'{k}={v}' for k, v in extras.items())
        return ' '.join(part for part in (line, f'[{tag}]' if tag else '', fields) if part)


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
