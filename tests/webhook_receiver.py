"""A webhook receiver on 127.0.0.1: a real HTTP server in a thread that records every request and answers with the
statuses a test queues (200 once the queue is empty)."""

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.statuses: deque[int] = deque()
        self._lock = threading.Lock()
        self._open = threading.Event()  # cleared: requests are received but not answered (a hanging receiver)
        self._open.set()
        self.arrived = threading.Event()  # set at every request
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get('Content-Length') or 0))
                with receiver._lock:
                    receiver.requests.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                      body))
                    status = receiver.statuses.popleft() if receiver.statuses else 200
                receiver.arrived.set()
                receiver._open.wait()
                self.send_response(status)
                self.send_header('Content-Length', '0')
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = f'http://127.0.0.1:{self._server.server_address[1]}/hooks/vigil'
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def answer(self, *statuses: int) -> None:
        """Answer the next requests with these statuses, in order."""
        with self._lock:
            self.statuses.extend(statuses)

    def hold(self) -> None:
        """Receive requests but answer none until release()."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._open.set()
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


def closed_port_url() -> str:
    """Return a URL on 127.0.0.1 where nothing listens (a port just released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    return f'http://127.0.0.1:{port}/nobody'
