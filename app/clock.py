"""Time as a dependency: services ask a clock, tests hand in one they control."""

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Return the current time, timezone-aware, in UTC."""
    return datetime.now(UTC)
