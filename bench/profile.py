"""Summarise py-spy's collapsed stacks: where a server's samples go, by layer and by Vigil function."""

import re
from collections import Counter

_FRAME = re.compile(r'^(?P<function>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$')

# (layer, substrings of the file path): the innermost frame that matches one of these decides a sample's layer.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ('SQLite itself (sqlite3 in the aiosqlite thread)', ('sqlite3/', 'aiosqlite/')),
    ('SQLAlchemy (statement compile, ORM, results)', ('sqlalchemy/',)),
    ('pydantic (validation, serialisation)', ('pydantic/', 'pydantic_core/')),
    ('JSON encode/decode', ('json/',)),
    ('HTTP parsing and server (uvicorn, h11, httptools)', ('uvicorn/', 'h11/', 'httptools/')),
    ('ASGI framework and middleware (Starlette, FastAPI, NiceGUI)', ('starlette/', 'fastapi/', 'nicegui/')),
    ('event loop and threads (asyncio, threading, concurrent)', ('asyncio/', 'threading.py', 'concurrent/')),
    ('Vigil: detection and clinical rules', ('app/domain/', 'app/services/detection', 'app/services/rules')),
    ('Vigil: events and unit of work', ('app/events/', 'app/uow')),
    ('Vigil: API routes and readings parsing', ('app/api/',)),
    ('Vigil: other services and data layer', ('app/', 'data/')),
)


def parse(collapsed: str) -> list[tuple[list[tuple[str, str]], int]]:
    """Return (frames root first as (function, file), samples) for each line of py-spy's raw output."""
    stacks = []
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(' ')
        if not stack or not count.isdigit():
            continue
        frames = []
        for part in stack.split(';'):
            match = _FRAME.match(part.strip())
            frames.append((match['function'], match['file']) if match else (part.strip(), ''))
        stacks.append((frames, int(count)))
    return stacks


def layer_of(frames: list[tuple[str, str]]) -> str:
    """Return the layer of the innermost frame that belongs to a known one."""
    for function, file in reversed(frames):
        for layer, patterns in LAYERS:
            if any(p in file for p in patterns):
                return layer
        if file == '' and function.startswith(('thread', 'process')):
            continue
    return 'other (interpreter, stdlib, idle)'


def summarise(collapsed: str, top: int = 25) -> str:
    """Return two markdown tables: samples by layer (innermost frame) and by Vigil function (inclusive)."""
    stacks = parse(collapsed)
    total = sum(count for _, count in stacks) or 1
    layers: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        layers[layer_of(frames)] += count
        seen = set()
        for function, file in frames:
            path = file.replace('\\', '/')
            marker = next((m for m in ('/app/', '/data/') if m in f'/{path}'), None)
            if marker and 'site-packages' not in path:
                name = f'{path[path.index(marker.strip("/")):]}:{function}'
                if name not in seen:
                    seen.add(name)
                    inclusive[name] += count
    lines = [f'Server profile (py-spy, {total:,} samples while batches were posted): time by layer',
             '', '| layer (innermost frame) | share |', '|---|---|']
    lines += [f'| {layer} | {count / total:.1%} |' for layer, count in layers.most_common()]
    lines += ['', 'Vigil functions, inclusive (a sample counts for every Vigil frame on its stack)', '',
              '| function | share |', '|---|---|']
    lines += [f'| `{name}` | {count / total:.1%} |' for name, count in inclusive.most_common(top)]
    return '\n'.join(lines)
