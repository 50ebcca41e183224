"""Column types that behave the same on SQLite and PostgreSQL."""

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Store timezone-aware datetimes as UTC; always hand back aware UTC values.

    SQLite has no timezone type, so values are normalised to UTC on the way in and tagged as
    UTC on the way out; naive datetimes are refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError('naive datetime refused: Vigil stores timezone-aware datetimes only')
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == 'sqlite' else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JsonText(str):
    """A value for a JSON column that is already serialised (such as pydantic's model_dump_json): stored as it is."""


def json_serializer(value: Any) -> str:
    """Serialise a JSON column's value (the engine's json_serializer): JsonText as it is, anything else as before."""
    return str(value) if isinstance(value, JsonText) else json.dumps(value)
