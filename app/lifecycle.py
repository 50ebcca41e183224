"""Stop on SIGTERM or SIGINT within a bounded time, log one line, and exit 0 after a clean stop.

The web server (uvicorn, under NiceGUI's `ui.run`) catches both signals itself: it stops accepting connections,
lets open requests finish (at most its `timeout_graceful_shutdown`), runs the application's shutdown handlers,
then puts back the signal handlers it found and raises the signal again "to trigger the expected behaviour". With
Python's defaults that behaviour is death by SIGTERM (exit status -15) or a KeyboardInterrupt traceback, although
the stop was clean. `GracefulStop` is the expected behaviour instead: installed before the server starts, it notes
the signal and lets `ui.run` return, so `finish()` can log one line and give the exit code. A daemon timer bounds
the whole stop: a shutdown handler that hangs cannot keep the process alive for ever.

No library fits: this is the seam between uvicorn's signal handling and our exit code, a few lines of glue.
"""

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

log = logging.getLogger('vigil')

SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Open requests (an ingest in flight, an event stream) get this long to finish once a stop is asked for.
GRACE_SECONDS = 10.0
# Then the shutdown handlers (watchdog, live hub, bus, database) get this long before the process is ended hard.
CLEANUP_SECONDS = 10.0
EXIT_CLEAN = 0
EXIT_FORCED = 1

SignalHandler = Callable[[int, FrameType | None], Any]


class GracefulStop:
    """Turns a server stop caused by a signal into one log line and an exit code, within a hard deadline."""

    def __init__(self, grace_seconds: float = GRACE_SECONDS, cleanup_seconds: float = CLEANUP_SECONDS,
                 *, end_process: Callable[[int], object] = os._exit) -> None:
        self.grace_seconds = grace_seconds
        self.cleanup_seconds = cleanup_seconds
        self.received: list[int] = []
        self._end_process = end_process
        self._requested_at: float | None = None
        self._deadline: threading.Timer | None = None
        self._serving = False

    @property
    def bound_seconds(self) -> float:
        """Return the longest a stop may take from the first signal until the process ends."""
        return self.grace_seconds + self.cleanup_seconds

    def install(self) -> None:
        """Handle SIGTERM and SIGINT until the server takes them over, and again once it hands them back."""
        for sig in SIGNALS:
            signal.signal(sig, self._after_server)

    def chain(self) -> None:
        """Wrap the server's own signal handlers so the first signal starts the deadline; call once serving."""
        self._serving = True
        for sig in SIGNALS:
            inner = signal.getsignal(sig)
            if callable(inner) and inner is not self._after_server:
                signal.signal(sig, self._wrap(inner))

    def _wrap(self, inner: SignalHandler) -> SignalHandler:
        def handler(sig: int, frame: FrameType | None) -> None:
            self.requested(sig)
            inner(sig, frame)
        return handler

    def requested(self, sig: int) -> None:
        """Note a stop request; the first one starts the hard deadline."""
        self.received.append(sig)
        if self._requested_at is not None:
            return
        self._requested_at = time.monotonic()
        log.debug('stopping on %s: no new connections, open requests get up to %.0f s', signal.Signals(sig).name,
                 self.grace_seconds)
        self._deadline = threading.Timer(self.bound_seconds, self._give_up)
        self._deadline.daemon = True
        self._deadline.start()

    def _after_server(self, sig: int, frame: FrameType | None) -> None:
        if not self._serving:
            # A signal before the server took over: nothing has been accepted yet, so just leave.
            raise SystemExit(EXIT_CLEAN)
        # The server re-raises the signal after its own clean stop: already handled.
        if sig not in self.received:
            self.requested(sig)

    def _give_up(self) -> None:
        log.error('Vigil did not stop within %.0f s: ending the process', self.bound_seconds)
        for handler in logging.getLogger().handlers:  # os._exit skips the usual flush at exit
            handler.flush()
        self._end_process(EXIT_FORCED)

    def finish(self, *, forced: bool) -> int:
        """Log the one line of a stop and return the process's exit code (call after the server returned)."""
        # NOTE: the deadline stays armed: its daemon thread dies with the interpreter, unless the exit itself hangs
        # (a non-daemon thread that never ends), which it then bounds too.
        took = '' if self._requested_at is None else f' in {time.monotonic() - self._requested_at:.1f} s'
        cause = ', '.join(dict.fromkeys(signal.Signals(s).name for s in self.received)) or 'server exit'
        if forced:
            log.warning('Vigil stopped%s (%s): forced, shutdown handlers skipped', took, cause,
                        extra={'event': 'server.stop', 'cause': cause, 'forced': True})
            return EXIT_FORCED
        log.info('Vigil stopped%s (%s): requests finished, bus and database closed', took, cause,
                 extra={'event': 'server.stop', 'cause': cause, 'forced': False})
        return EXIT_CLEAN
