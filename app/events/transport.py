"""How serialised events travel between publishers and the bus of each process."""

import abc
from collections.abc import Callable
from typing import Any

Deliver = Callable[[str], None]
# Called after the transport reconnected: events may have been missed, every page must reload from the database.
Resync = Callable[[], None]
# Called with a signal's JSON object: short-lived notices between processes that are no domain event (never logged).
SignalHandler = Callable[[dict[str, Any]], None]


class Transport(abc.ABC):
    """Carries JSON payloads from publish() to the deliver callback of every process."""

    @abc.abstractmethod
    async def start(self, deliver: Deliver) -> None:
        """Begin delivering payloads to deliver (called once by the bus)."""

    @abc.abstractmethod
    async def publish(self, hospital_id: int, payload: str) -> None:
        """Send one payload on the hospital's topic; must not wait for subscribers."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop delivering and release resources; idempotent."""

    @abc.abstractmethod
    def on_signal(self, handler: SignalHandler) -> None:
        """Call handler with every signal any process sends (its own included, once)."""

    @abc.abstractmethod
    async def signal(self, message: dict[str, Any]) -> None:
        """Send a signal (a JSON object) to every process of this installation."""

    def on_resync(self, callback: Resync) -> None:  # noqa: B027 (optional: only lossy transports call it)
        """Call callback whenever events may have been lost in transit (the memory transport never loses any)."""

    async def flush(self) -> None:  # noqa: B027 (optional: the memory transport delivers synchronously)
        """Wait until every payload this process published so far has come back to deliver (tests, shutdown)."""

    async def problem(self) -> str | None:
        """Return why the transport cannot carry events right now, or None when it can (for /readyz)."""
        return None


class MemoryTransport(Transport):
    """In-process transport. Payloads are still JSON strings so it behaves like the Redis one."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self._signal_handlers: list[SignalHandler] = []

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def publish(self, hospital_id: int, payload: str) -> None:
        if self._deliver is not None:
            self._deliver(payload)

    def on_signal(self, handler: SignalHandler) -> None:
        self._signal_handlers.append(handler)

    async def signal(self, message: dict[str, Any]) -> None:
        for handler in list(self._signal_handlers):
            handler(message)

    async def close(self) -> None:
        self._deliver = None
