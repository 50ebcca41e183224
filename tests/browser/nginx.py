"""The sample nginx configuration (deploy/nginx/vigil.conf) run in the foreground as a child process of the tests.

Only the addresses change: the upstream's `server` lines point at the test's Vigil processes and `listen` at a free
port on 127.0.0.1; everything else is the file as shipped, included into a minimal nginx.conf that keeps the pid
file, logs and temporary files in a folder of the test.
"""

import getpass
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx

from .harness import REPO, START_TIMEOUT, STOP_TIMEOUT, free_port

SAMPLE = REPO / 'deploy' / 'nginx' / 'vigil.conf'
_UPSTREAM_SERVER = re.compile(r'^(\s*)server 127\.0\.0\.1:\d+( [^;]*)?;\n', re.M)
_LISTEN = re.compile(r'^(\s*)listen 80;$', re.M)
# The test's own access log says which process served each request: that is how stickiness is checked.
_LOG_FORMAT = "log_format vigil_upstream '$request_method $uri $status $upstream_addr';"


def nginx_path() -> str | None:
    """Return the path of the nginx executable, or None when it is not installed."""
    # Debian installs it into /usr/sbin, which is not on every user's PATH.
    return shutil.which('nginx') or shutil.which('nginx', path='/usr/sbin:/sbin')


def site_config(backends: list[str], port: int) -> str:
    """Return the sample with its upstream servers replaced by `backends` (host:port) and listening on `port`."""
    text = SAMPLE.read_text()
    servers = _UPSTREAM_SERVER.findall(text)
    if not servers:
        raise AssertionError(f'{SAMPLE}: no "server 127.0.0.1:<port> ...;" lines in the upstream to replace')
    indent, options = servers[0]
    first = _UPSTREAM_SERVER.search(text)
    assert first is not None
    lines = ''.join(f'{indent}server {backend}{options};\n' for backend in backends)
    text = text[:first.start()] + lines + _UPSTREAM_SERVER.sub('', text[first.start():])
    text, listens = _LISTEN.subn(rf'\g<1>listen 127.0.0.1:{port};', text)
    if listens != 1:
        raise AssertionError(f'{SAMPLE}: expected one "listen 80;" line, found {listens}')
    return text


class Nginx:
    """nginx in the foreground (`daemon off`) with the sample in front of `backends`, stopped by its PID."""

    def __init__(self, folder: Path, backends: list[str]) -> None:
        self.folder = folder
        self.port = free_port()
        self.backends = backends
        self.access_log = folder / 'access.log'
        self.error_log = folder / 'error.log'
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.port}'

    def write_config(self) -> Path:
        """Write the site file and a minimal nginx.conf around it; return the latter."""
        self.folder.mkdir(parents=True, exist_ok=True)
        site = self.folder / 'vigil.conf'
        site.write_text(site_config(self.backends, self.port))
        temp = {name: self.folder / name for name in ('client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi')}
        # As root, nginx's workers would run as `nobody` and could not write into the test's private folder.
        user = f'user {getpass.getuser()};\n' if os.geteuid() == 0 else ''
        main = self.folder / 'nginx.conf'
        main.write_text(
            f'{user}worker_processes 1;\npid {self.folder / "nginx.pid"};\nerror_log {self.error_log} info;\n'
            'events { worker_connections 1024; }\n'
            'http {\n'
            f'    {_LOG_FORMAT}\n    access_log {self.access_log} vigil_upstream;\n'
            + ''.join(f'    {name}_temp_path {path};\n' for name, path in temp.items())
            + f'    include {site};\n}}\n')
        return main

    def start(self) -> None:
        """Start nginx and return once it proxies /healthz to a Vigil process."""
        executable = nginx_path()
        if executable is None:
            raise RuntimeError('nginx is not installed: apt-get install nginx')
        config = self.write_config()
        with (self.folder / 'stderr.log').open('ab') as stderr:
            self._process = subprocess.Popen(
                [executable, '-p', str(self.folder), '-e', str(self.error_log), '-c', str(config),
                 '-g', 'daemon off;'], stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
        # Polling a process that is starting up: there is no event to wait for before its port opens.
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f'nginx exited with code {self._process.returncode}:\n{self.log_tail()}')
            try:
                if httpx.get(f'{self.url}/healthz', timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f'nginx did not proxy /healthz within {START_TIMEOUT:.0f} s:\n{self.log_tail()}')

    def stop(self) -> None:
        """Stop nginx by its PID: SIGTERM (a fast shutdown: open sockets would hold a graceful one), then SIGKILL."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def requests(self) -> list[tuple[str, str, int, str]]:
        """Return every logged request as (method, path, status, the upstream address that served it)."""
        entries = []
        for line in self.access_log.read_text().splitlines():
            method, path, status, upstream = line.split(' ', 3)
            entries.append((method, path, int(status), upstream))
        return entries

    def log_tail(self, lines: int = 30) -> str:
        """Return the end of nginx's error log and output (for failure messages)."""
        parts = []
        for path in (self.folder / 'stderr.log', self.error_log):
            if path.exists():
                parts.extend(path.read_text(errors='replace').splitlines()[-lines:])
        return '\n'.join(parts) or '(no output)'
