"""Every process's open UI sessions, shared through Redis, so the connections page can show all processes at once.

Each process writes its sessions every SHARE_SECONDS into one Redis hash per hospital, `{prefix}:sessions:{id}`
(field: the process's name, value: its sessions as JSON with the time written). Readers skip a field older than
STALE_SECONDS (a process that died without withdrawing), and the hash expires with the last process that wrote it.
Nothing here is on the alerting path: a Redis failure costs one log line and the page shows this process only.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

SHARE_SECONDS = 15.0
STALE_SECONDS = 3 * SHARE_SECONDS


class SessionRecord(BaseModel):
    """One open page, as the connections page lists it."""

    process: str
    client_id: str
    user_id: int | None
    name: str
    role: str
    wards: tuple[str, ...]
    page: str
    since: AwareDatetime
    last_activity: AwareDatetime


class ProcessSessions(BaseModel):
    """What one process wrote for one hospital, and when."""

    at: AwareDatetime
    sessions: list[SessionRecord]


Snapshot = Callable[[], dict[int, list[SessionRecord]]]


class DirectoryUnavailable(Exception):
    """Redis cannot be reached: the other processes' sessions are unknown for now."""


class SessionDirectory:
    """Shares this process's sessions through Redis and reads the other processes' sessions of a hospital."""

    def __init__(self, url: str, *, prefix: str, process: str,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.process = process
        self._redis: Redis = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        self._prefix = prefix
        self._clock = clock
        self._shared: set[int] = set()
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def key(self, hospital_id: int) -> str:
        """Return the Redis hash of a hospital's sessions."""
        return f'{self._prefix}:sessions:{hospital_id}'

    async def share(self, sessions: dict[int, list[SessionRecord]]) -> None:
        """Write this process's sessions of each hospital (and withdraw from hospitals it no longer serves)."""
        now = self._clock()
        async with self._redis.pipeline(transaction=False) as pipe:
            for hospital_id, records in sessions.items():
                pipe.hset(self.key(hospital_id), self.process, ProcessSessions(at=now, sessions=records)
                          .model_dump_json())
                pipe.expire(self.key(hospital_id), int(STALE_SECONDS))
            for hospital_id in self._shared - set(sessions):
                pipe.hdel(self.key(hospital_id), self.process)
            await pipe.execute()
        self._shared = set(sessions)

    async def others(self, hospital_id: int) -> dict[str, list[SessionRecord]]:
        """Return the sessions of a hospital on every other live process, by process name."""
        try:
            fields = await self._redis.hgetall(self.key(hospital_id))
        except (RedisError, OSError) as error:
            raise DirectoryUnavailable(str(error) or type(error).__name__) from error
        oldest = self._clock() - timedelta(seconds=STALE_SECONDS)
        found: dict[str, list[SessionRecord]] = {}
        for raw_process, raw in fields.items():
            process = raw_process.decode() if isinstance(raw_process, bytes) else str(raw_process)
            if process == self.process:
                continue
            try:
                written = ProcessSessions.model_validate_json(raw)
            except ValidationError:
                log.warning('ignoring unreadable sessions of process %s', process)
                continue
            if written.at >= oldest:
                found[process] = written.sessions
        return found

    def start(self, snapshot: Snapshot, every_seconds: float = SHARE_SECONDS) -> None:
        """Share the snapshot now and every few seconds, as a task of the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._share_forever(snapshot, every_seconds),
                                                                name='vigil-session-directory')

    async def _share_forever(self, snapshot: Snapshot, every_seconds: float) -> None:
        while True:
            try:
                await self.share(snapshot())
                if self._failing:
                    log.info('sharing UI sessions through Redis again')
                self._failing = False
            except (RedisError, OSError) as error:
                if not self._failing:
                    log.warning('cannot share UI sessions through Redis (%s): other processes miss them for now', error)
                self._failing = True
            await asyncio.sleep(every_seconds)

    async def close(self) -> None:
        """Stop sharing, withdraw this process's sessions and close the connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
        try:
            if self._shared:
                await self.share({})
        except (RedisError, OSError) as error:
            log.warning('could not withdraw UI sessions from Redis: %s', error)
        finally:
            await self._redis.aclose()
