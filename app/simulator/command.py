"""`python main.py simulate`: run the simulator against a server until Ctrl-C, SIGTERM or --duration."""

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from .gateway import SimulatorStopped
from .options import Rate, Report, Scenario
from .runner import Simulator


def simulate(args: argparse.Namespace) -> int:
    """Run the simulate verb with checked arguments and return the exit code."""
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s', stream=sys.stderr)
    logging.getLogger('httpx').setLevel(logging.WARNING)  # one line per request would drown the simulator's own
    simulator = Simulator(args.url, args.token, seed=args.seed,
                          rate=Rate(interval=args.interval, full_set_every=args.full_set_every),
                          scenario=Scenario.calm() if args.calm else Scenario())
    try:
        report = asyncio.run(_run(simulator, args.duration))
    except SimulatorStopped as error:
        print(f'vigil: error: {error}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        report = simulator.report
    print(f'simulator stopped: {report.line()}')
    return 0


async def _run(simulator: Simulator, duration: float | None) -> Report:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    # SIGTERM (a service manager stopping it) ends the run as cleanly as Ctrl-C does.
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await simulator.run(stop_after=duration)
    except asyncio.CancelledError:
        return simulator.report
    finally:
        await simulator.aclose()
