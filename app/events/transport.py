"""How serialised events travel between publishers and the bus of each process."""

import abc
from collections.abc import Callable

Deliver = Callable[[str], None]


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


class MemoryTransport(Transport):
    """In-process transport. Payloads are still JSON strings so it behaves like the Redis one."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def publish(self, hospital_id: int, payload: str) -> None:
        if self._deliver is not None:
            self._deliver(payload)

    async def close(self) -> None:
        self._deliver = None
