"""Writers on the embedded SQLite while the event loop stalls: do writes queue, or fail?

    python -m bench.write_stalls [--seconds 40] [--writers 40] [--seed 0]

One process, Vigil's own engine and units of work on a fresh migrated SQLite file (the real 10 s busy timeout):
--writers tasks write in a loop (two statements per transaction, with an await between them, as services do)
while another task blocks the event loop for 1-4 s after every half second of loop time, as rendering a new alert
to many screens did in the loaded soak. A write transaction needs the loop for each statement, so one held open
across a stall keeps the other writers waiting. Reports the writes committed and the errors of those that failed
("database is locked", or the connection pool timing out). Nothing is asserted; the interest is whether any fail.
"""

import argparse
import asyncio
import random
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import update

from app.bootstrap import build
from app.config import Settings
from data.migrate import upgrade_to_head
from data.models import Hospital, Ward


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix='vigil-write-stalls-') as folder:
        url = f'sqlite+aiosqlite:///{folder}/vigil.db'
        await upgrade_to_head(url)
        vigil = build(Settings(database_url=url, data_dir=Path(folder)))
        try:
            async with vigil.db.uow() as uow:
                hospital = Hospital(slug='stalls', name='Stalls', event_seq=0, created_at=datetime.now(UTC))
                uow.session.add(hospital)
                await uow.session.flush()
                ward = Ward(hospital_id=hospital.id, name='ward')
                uow.session.add(ward)
                await uow.session.flush()
                ward_id = ward.id
                await uow.commit()
            committed = 0
            errors: Counter[str] = Counter()
            end = time.monotonic() + args.seconds
            rng = random.Random(args.seed)

            async def write(index: int) -> None:
                nonlocal committed
                while time.monotonic() < end:
                    try:
                        async with vigil.db.uow() as uow:
                            await uow.session.execute(update(Ward).where(Ward.id == ward_id).values(name=f'a{index}'))
                            await asyncio.sleep(0)
                            await uow.session.execute(update(Ward).where(Ward.id == ward_id).values(name=f'b{index}'))
                            await uow.commit()
                        committed += 1
                    except Exception as error:
                        errors[str(getattr(error, 'orig', None) or error).splitlines()[0][:80]] += 1

            async def stall() -> None:
                while time.monotonic() < end:
                    await asyncio.sleep(0.5)
                    time.sleep(rng.uniform(1, 4))  # noqa: ASYNC251 (the loop is busy elsewhere: blocking on purpose)

            started = time.monotonic()
            await asyncio.gather(stall(), *(write(index) for index in range(args.writers)))
            print(f'{args.writers} writers for {time.monotonic() - started:.0f} s with the loop stalling 1-4 s every '
                  f'0.5 s: {committed:,} writes committed, {sum(errors.values())} failed')
            for message, count in errors.most_common():
                print(f'  {count} x {message}')
        finally:
            await vigil.close()


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=40.0)
    parser.add_argument('--writers', type=int, default=40, help='concurrent writing tasks')
    parser.add_argument('--seed', type=int, default=0, help='seeds the stall lengths')
    asyncio.run(main(parser.parse_args()))
