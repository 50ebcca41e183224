"""The demo's own simulator: fresh device tokens per demo ward, streaming into the server it runs in."""

import asyncio
import logging

import httpx

from app.bootstrap import Vigil
from app.domain import TokenKind
from app.errors import NotFound

from .gateway import SimulatorStopped
from .options import Rate
from .runner import Simulator
from .scenes import SCRIPTED_MRNS

log = logging.getLogger('vigil.simulator')

# NOTE: the hospitals data/seed.py creates for the demo.
DEMO_HOSPITALS = ('general', 'riverside')
TOKEN_PREFIX = 'Demo simulator, '  # noqa: S105 (a token name, not a secret)


async def demo_tokens(vigil: Vigil, slug: str) -> list[str]:
    """Revoke the demo simulator's earlier tokens of a hospital and return a new one per ward, by ward name.

    Tokens are stored hashed, so earlier secrets cannot be reused; names are unique, so the new ones carry the time.
    """
    for token in await vigil.tokens.list_tokens(hospital_slug=slug):
        if token.name.startswith(TOKEN_PREFIX) and token.revoked_at is None:
            await vigil.tokens.revoke(hospital_slug=slug, name=token.name)
    stamp = f' ({vigil.clock():%Y-%m-%d %H:%M:%S})'
    secrets = []
    # NOTE: Simulator gives its gateways the wards in sorted order, so token i reports for ward i.
    for ward in sorted(w.name for w in await vigil.hospitals.wards(slug)):
        name = TOKEN_PREFIX + ward[:100 - len(TOKEN_PREFIX) - len(stamp)] + stamp
        created = await vigil.tokens.create(hospital_slug=slug, kind=TokenKind.DEVICE, name=name)
        secrets.append(created.secret)
    return secrets


async def wait_until_serving(base_url: str, within: float, transport: httpx.AsyncBaseTransport | None = None) -> bool:
    """Poll the health check until the server answers (it starts listening after the start-up hooks ran)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with httpx.AsyncClient(base_url=base_url, timeout=2.0, transport=transport) as client:
        while loop.time() < deadline:
            try:
                if (await client.get('/healthz')).is_success:
                    return True
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    return False


async def run_demo_simulator(vigil: Vigil, base_url: str, *, seed: int = 0, rate: Rate | None = None,
                             ready_timeout: float = 60.0, transport: httpx.AsyncBaseTransport | None = None) -> None:
    """Simulate every demo hospital through the HTTP API at base_url until cancelled.

    Call it once the database is migrated and seeded, as a task of the server's own event loop; it waits until
    base_url answers /healthz. A transport stands in for the network in tests.
    """
    # The server logs at INFO; httpx would add a line for each of the simulator's requests.
    logging.getLogger('httpx').setLevel(max(logging.WARNING, logging.getLogger('httpx').level))
    simulators = []
    for slug in DEMO_HOSPITALS:
        try:
            tokens = await demo_tokens(vigil, slug)
        except NotFound:
            continue  # not seeded in this database
        if tokens:
            simulators.append(Simulator(base_url, tokens, seed=seed, rate=rate or Rate(), clock=vigil.clock, name=slug,
                                        transport=transport, exclude=SCRIPTED_MRNS))
    try:
        if not await wait_until_serving(base_url, ready_timeout, transport):
            log.warning('demo simulator: %s did not answer within %.0f s; trying anyway', base_url, ready_timeout)
        await asyncio.gather(*(_run(simulator) for simulator in simulators))
    finally:
        for simulator in simulators:
            await simulator.aclose()


async def _run(simulator: Simulator) -> None:
    try:
        await simulator.run()
    except SimulatorStopped as error:
        log.error('demo simulator of %s stopped: %s', simulator.name, error)
