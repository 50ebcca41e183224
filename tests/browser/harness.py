"""A real Vigil server as a child process and Debian's Chromium driven through Playwright.

Shared by the browser tests and the screenshot script (`python -m bench.screens`), so both see the product the
way a newcomer does: `python main.py --demo` in its own process, a browser talking to it over HTTP and WebSocket.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, Playwright

REPO = Path(__file__).resolve().parents[2]
# Debian's Chromium, never a downloaded browser build. We run as root in CI, hence --no-sandbox; the other flags
# keep the browser from phoning home or updating itself while the tests run.
CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run']
DEMO_PASSWORD = 'demo'  # the demo accounts' password when VIGIL_DEMO_PASSWORD is unset, as it is here
START_TIMEOUT = 60.0
STOP_TIMEOUT = 25.0  # above the server's own bound for a graceful stop (20 s, app/lifecycle.py)
# Fixed, so sessions signed in before a restart stay valid after it (the cookie is signed with it).
STORAGE_SECRET = 'browser-tests-storage-secret'


def chromium_path() -> str | None:
    """Return the path of the system Chromium, or None when it is not installed."""
    return shutil.which('chromium') or shutil.which('chromium-browser')


def launch_chromium(playwright: Playwright) -> Browser:
    """Start headless Chromium from the system's package."""
    executable = chromium_path()
    if executable is None:
        raise RuntimeError('Chromium is not installed: apt-get install chromium chromium-driver')
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


def clean_environment(data_dir: Path, port: int, storage_secret: str) -> dict[str, str]:
    """The environment of a server or CLI run: nothing inherited from VIGIL_*, NiceGUI or pytest."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(('VIGIL_', 'NICEGUI_', 'PYTEST_'))}
    # Explicitly empty, so a developer's .env in the repository cannot point the server at another database.
    env.update({'VIGIL_DATA_DIR': str(data_dir), 'VIGIL_DATABASE_URL': '', 'VIGIL_REDIS_URL': '',
                'VIGIL_HOST': '127.0.0.1', 'VIGIL_PORT': str(port), 'VIGIL_STORAGE_SECRET': storage_secret})
    return env


class VigilServer:
    """`python main.py --demo` as a child process on its own port and data folder; restartable in place."""

    def __init__(self, data_dir: Path, *, simulator: bool = False, storage_secret: str = STORAGE_SECRET,
                 port: int | None = None, env: Mapping[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.simulator = simulator
        # `env` adds or overrides VIGIL_* settings, e.g. a shared PostgreSQL database and Redis for several servers.
        self.env = clean_environment(data_dir, self.port, storage_secret) | dict(env or {})
        self.log_path = data_dir / 'server.log'
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    @property
    def pid(self) -> int:
        """Return the running server's process id."""
        assert self._process is not None, 'the server is not running'
        return self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and return once /healthz answers (the database is migrated and seeded by then)."""
        if self.running:
            raise RuntimeError('the server is already running')
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [sys.executable, 'main.py', '--demo'] + ([] if self.simulator else ['--no-simulator'])
        with self.log_path.open('ab') as log:
            self._process = subprocess.Popen(args, cwd=REPO, env=self.env, stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_healthy()

    def _wait_until_healthy(self) -> None:
        # Polling a process that is starting up: there is no event to wait for before its port opens.
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f'the server exited with code {self._process.returncode}:\n{self.log_tail()}')
            try:
                if httpx.get(f'{self.url}/healthz', timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f'the server did not answer /healthz within {START_TIMEOUT:.0f} s:\n{self.log_tail()}')

    def stop(self) -> None:
        """Stop the server by its PID: SIGTERM (a graceful shutdown), then SIGKILL if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def restart(self) -> None:
        """Stop and start again on the same port with the same data folder."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        """Return the end of the server's output (for failure messages)."""
        try:
            return '\n'.join(self.log_path.read_text(errors='replace').splitlines()[-lines:])
        except FileNotFoundError:
            return '(no output)'

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run an operator verb (`python main.py *args`) against this server's database."""
        return subprocess.run([sys.executable, 'main.py', *args], cwd=REPO, env=self.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False)

    def create_token(self, kind: str, name: str, hospital: str = 'general') -> str:
        """Create an API token with the CLI and return its secret (printed alone on the last line)."""
        result = self.cli('token', 'create', '--hospital', hospital, '--kind', kind, '--name', name)
        if result.returncode != 0:
            raise RuntimeError(f'token create failed ({result.returncode}): {result.stderr.strip()}')
        return result.stdout.splitlines()[-1].strip()

    def api(self, token: str) -> httpx.Client:
        """Return an HTTP client for /api/v1 authenticated with the given bearer token."""
        return httpx.Client(base_url=self.url, headers={'Authorization': f'Bearer {token}'}, timeout=10.0)

    def post_alert(self, token: str, **alert: Any) -> dict[str, Any]:
        """Raise an alert through the HTTP API and return its JSON view."""
        with self.api(token) as client:
            response = client.post('/api/v1/alerts', json=alert)
        if response.status_code not in (200, 201):
            raise RuntimeError(f'POST /api/v1/alerts answered {response.status_code}: {response.text[:300]}')
        result: dict[str, Any] = response.json()
        return result


def sign_in(page: Page, server: VigilServer | str, username: str, password: str = DEMO_PASSWORD,
            next_path: str = '/') -> None:
    """Sign in through the login page like a person, and wait for the page behind it (server: or a proxy's URL)."""
    base = server if isinstance(server, str) else server.url
    query = '' if next_path == '/' else f'?next={next_path}'
    page.goto(f'{base}/login{query}')
    page.get_by_label('Username').fill(username)
    page.get_by_label('Password').fill(password)
    page.get_by_role('button', name='Log in').click()
    page.wait_for_url(f'{base}{next_path}', timeout=30_000)  # a loaded 2-core CI machine took over 15 s
