"""A Vigil demo server run as a child process for benchmarks: its own data folder and port, measured from /proc."""

import asyncio
import contextlib
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

PROJECT_DIR = Path(__file__).resolve().parent.parent
MAIN = PROJECT_DIR / 'main.py'
_CLOCK_TICKS = os.sysconf('SC_CLK_TCK')
START_SECONDS = 90.0  # migrations and the demo seed run before the server listens
STOP_SECONDS = 15.0


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


def pin() -> tuple[int, int] | None:
    """Keep this process on one core and return (core for the server, core for this process), if the OS allows."""
    if not hasattr(os, 'sched_setaffinity'):
        return None
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return None
    os.sched_setaffinity(0, {cores[1]})
    return cores[0], cores[1]


class ServerProcess:
    """`main.py --demo --no-simulator` on a free port with VIGIL_DATA_DIR in `folder`, stopped by its PID.

    With demo=False it serves whatever the database holds (seeded by the caller); `env` adds settings (e.g. a
    VIGIL_DATABASE_URL of its own); `launcher` goes between the interpreter and the script (e.g. `-m` and a module
    that runs main.py itself, found through PYTHONPATH); `script` runs instead of main.py (taking its arguments, e.g.
    an instrumented wrapper of it).
    """

    def __init__(self, folder: Path, core: int | None = None, *, demo: bool = True,
                 env: dict[str, str] | None = None, launcher: tuple[str, ...] = (), script: Path = MAIN) -> None:
        self.folder = folder
        self.script = script
        self.demo = demo
        self.port = free_port()
        self.base = f'http://127.0.0.1:{self.port}'
        self.core = core
        self.log = folder / 'server.log'
        self.env = {k: v for k, v in os.environ.items()
                    if k not in {'VIGIL_DATABASE_URL', 'VIGIL_REDIS_URL', 'VIGIL_HOST', 'VIGIL_PORT', 'VIGIL_DEMO'}}
        self.env.update(VIGIL_DATA_DIR=str(folder / 'data'), VIGIL_LOG_LEVEL='WARNING')
        self.env.update(env or {})
        self.launcher = launcher
        self.process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, 'start() first'
        return self.process.pid

    async def start(self) -> None:
        """Start the server (on its own core, inherited at fork) and wait until /healthz answers."""
        own = os.sched_getaffinity(0) if self.core is not None else None
        if self.core is not None:
            os.sched_setaffinity(0, {self.core})
        try:
            with self.log.open('wb') as log:
                self.process = await asyncio.create_subprocess_exec(
                    sys.executable, *self.launcher, str(self.script),
                    *(('--demo', '--no-simulator') if self.demo else ()),
                    '--port', str(self.port),
                    cwd=self.folder, env=self.env, stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log)
        finally:
            if own is not None:
                os.sched_setaffinity(0, own)
        async with aiohttp.ClientSession() as http:
            for _ in range(int(START_SECONDS * 4)):
                if self.process.returncode is not None:
                    raise RuntimeError(f'the server exited with {self.process.returncode}:\n{self.log_tail()}')
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f'{self.base}/healthz') as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.25)
        raise RuntimeError(f'the server did not answer /healthz within {START_SECONDS:.0f} s:\n{self.log_tail()}')

    async def create_token(self, hospital: str, kind: str, name: str) -> str:
        """Create an API token with the operator command line on the server's database and return its secret."""
        verb = await asyncio.create_subprocess_exec(
            sys.executable, str(MAIN), 'token', 'create', '--hospital', hospital, '--kind', kind,
            '--name', name, cwd=self.folder, env=self.env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(verb.communicate(), timeout=60)
        if verb.returncode != 0:
            raise RuntimeError(f'token create failed: {err.decode().strip()}')
        return out.decode().strip().splitlines()[-1]

    def rss_kib(self) -> int:
        """Return the server's resident memory in KiB (VmRSS)."""
        for line in Path(f'/proc/{self.pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
        raise RuntimeError('no VmRSS in /proc status')

    def cpu_seconds(self) -> float:
        """Return the CPU time the server (all its threads) used so far."""
        fields = Path(f'/proc/{self.pid}/stat').read_text().rpartition(')')[2].split()
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime

    def children(self) -> list[int]:
        """Return the PIDs of the server's child processes (e.g. a worker pool)."""
        pids: list[int] = []
        with contextlib.suppress(FileNotFoundError):
            for task in Path(f'/proc/{self.pid}/task').iterdir():
                with contextlib.suppress(FileNotFoundError):
                    pids.extend(int(p) for p in (task / 'children').read_text().split())
        return pids

    def profile(self, py_spy: str, output: Path) -> 'Profiler':
        """Start sampling the server with py-spy until the returned profiler is stopped."""
        return Profiler(py_spy, self.pid, output)

    async def stop(self) -> None:
        """Stop the server by its PID: SIGTERM, then SIGKILL if it has not exited in time; then its children."""
        if self.process is None or self.process.returncode is not None:
            return
        children = self.children()
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def log_tail(self, lines: int = 20) -> str:
        return '\n'.join(self.log.read_text(errors='replace').splitlines()[-lines:])


class Profiler:
    """py-spy recording one process as collapsed stacks; stopped with SIGINT, which makes it write its output."""

    def __init__(self, py_spy: str, pid: int, output: Path) -> None:
        self.output = output
        self._started = asyncio.ensure_future(asyncio.create_subprocess_exec(
            py_spy, 'record', '--pid', str(pid), '--rate', '200', '--format', 'raw', '--nonblocking',
            '--output', str(output), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=output.with_suffix('.log').open('wb')))

    async def stop(self) -> None:
        process = await self._started
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        try:
            await asyncio.wait_for(process.wait(), STOP_SECONDS * 4)
        except TimeoutError:
            process.kill()
            await process.wait()
