"""Run the Vigil server with a memory probe inside it, for diagnosis only (bench/soak_memory.py drives it).

    PYTHONPATH=<project> python -m bench.memory_probe PROBE_DIR main.py [main.py's arguments]

Runs main.py as `python main.py ...` does, plus a probe: on SIGUSR1 it reads PROBE_DIR/request.json ({"label": ...,
"collect": bool, "trace": frames}) and, between two callbacks of the server's event loop, writes
PROBE_DIR/<label>.json: RSS, glibc's heap, the collector's counts (frozen objects included), NiceGUI's clients and
elements, asyncio tasks by name, and the length of every dict, list, set and deque reachable in a few steps from
the services, the live hub and the project's modules (paths through a container's items are summed, as `[*]`).
With "collect", the heap is then thawed and collected, and the live objects by type (before and after), RSS,
heaps and pymalloc's bytes in use are noted again: what was garbage waiting for a collection, and what is alive.
"trace" starts tracemalloc with that many frames; while it traces, a collecting probe also writes a snapshot to
PROBE_DIR/<label>.tracemalloc. PROBE_DIR/<label>.done marks the end. A collection it runs is one the server would
have run later; otherwise it changes nothing.
"""

import asyncio
import collections
import ctypes
import gc
import json
import os
import re
import runpy
import signal
import sys
import tempfile
import time
import tracemalloc
import types
from collections import Counter
from pathlib import Path
from typing import Any

CONTAINERS = (dict, list, set, frozenset, collections.deque)
MAX_DEPTH = 6
MAX_ITEMS = 20_000  # items of one container looked into (lengths are always counted whole)
PROJECT_PACKAGES = ('app', 'components', 'pages', 'data')
SKIP = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType, type, str, bytes,
        int, float, bool, type(None))


def rss_kib() -> int:
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    return 0


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
                                                     'fsmblks', 'uordblks', 'fordblks', 'keepcost')]


def malloc_kib() -> dict[str, int]:
    """Return glibc's heap: in use, free but kept in its arenas, and in direct mmaps (KiB; empty elsewhere)."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (AttributeError, OSError):
        return {}
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return {'in_use': info.uordblks // 1024, 'free': info.fordblks // 1024, 'mmapped': info.hblkhd // 1024}


def pymalloc_kib() -> int:
    """Return the bytes in Python's small-object blocks in use (KiB), from CPython's allocator statistics."""
    with tempfile.TemporaryFile() as capture:
        saved = os.dup(2)  # the statistics go to the C-level stderr
        os.dup2(capture.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        found = re.search(rb'# bytes in allocated blocks\s*=\s*([\d,]+)', capture.read())
    return int(found.group(1).replace(b',', b'')) // 1024 if found else 0


def type_name(value: object) -> str:
    kind = type(value)
    return f'{kind.__module__}.{kind.__qualname__}'


def all_objects() -> list[Any]:
    """Return every object the collector tracks, frozen ones included (the heap is frozen again afterwards)."""
    frozen = gc.get_freeze_count()
    if frozen:
        gc.unfreeze()
    objects = gc.get_objects()
    if frozen:
        gc.freeze()
    return objects


def attributes(value: object) -> dict[str, Any]:
    found: dict[str, Any] = {}
    with_dict = getattr(value, '__dict__', None)
    if isinstance(with_dict, dict):
        found.update(with_dict)
    for klass in type(value).__mro__:
        for slot in getattr(klass, '__slots__', ()):
            if isinstance(slot, str) and slot not in found and hasattr(value, slot):
                found[slot] = getattr(value, slot, None)
    return found


def container_sizes(roots: dict[str, Any]) -> dict[str, int]:
    """Return the summed length of every container on each path from the roots (one visit per object)."""
    sizes: Counter[str] = Counter()
    seen: set[int] = set()
    stack: list[tuple[str, Any, int]] = [(name, value, 0) for name, value in roots.items()]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, SKIP) or id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, CONTAINERS):
            sizes[path] += len(value)
            if depth < MAX_DEPTH:
                items = list(value.values() if isinstance(value, dict) else value)[:MAX_ITEMS]
                stack.extend((f'{path}[*]', item, depth + 1) for item in items)
        elif depth < MAX_DEPTH:
            with_type = f'{path}<{type(value).__name__}>' if path.endswith(']') else path
            stack.extend((f'{with_type}.{name}', item, depth + 1) for name, item in attributes(value).items())
    return dict(sizes)


def roots() -> dict[str, Any]:
    from nicegui import Client, app, background_tasks, core

    found: dict[str, Any] = {
        'vigil': getattr(app.state, 'vigil', None),
        'hub': getattr(app.state, 'hub', None),
        'Client.instances': Client.instances,
        'background_tasks.running_tasks': background_tasks.running_tasks,
        'sio.manager.rooms': core.sio.manager.rooms,
        'eio.sockets': core.sio.eio.sockets,
        'storage': app.storage,
    }
    for name, module in list(sys.modules.items()):
        if name.split('.')[0] in PROJECT_PACKAGES and module is not None and name != '__main__':
            for attribute, value in vars(module).items():
                if isinstance(value, CONTAINERS) and not attribute.startswith('__'):
                    found[f'{name}.{attribute}'] = value
    return found


def nicegui_counts() -> dict[str, Any]:
    from nicegui import Client, background_tasks, core

    clients = list(Client.instances.values())
    elements = [len(c.elements) for c in clients]
    by_page: Counter[str] = Counter()
    for client in clients:
        route = getattr(getattr(client, 'request', None), 'url', None)
        by_page[getattr(route, 'path', '?')] += 1
    return {
        'clients': len(clients),
        'clients_connected': sum(1 for c in clients if c.has_socket_connection),
        'clients_by_page': dict(by_page),
        'elements': sum(elements),
        'elements_max': max(elements, default=0),
        'background_tasks': len(background_tasks.running_tasks),
        'sio_rooms': sum(len(r) for r in core.sio.manager.rooms.values()),
        'eio_sockets': len(core.sio.eio.sockets),
    }


def task_counts() -> dict[str, int]:
    names: Counter[str] = Counter()
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        names[getattr(coro, '__qualname__', type(coro).__name__)] += 1
    return dict(names)


def census(objects: list[Any]) -> dict[str, int]:
    return dict(Counter(type_name(o) for o in objects))


def probe(folder: Path) -> None:
    request = json.loads((folder / 'request.json').read_text())
    label, collect = str(request['label']), bool(request.get('collect'))
    began = time.perf_counter()
    if request.get('trace') and not tracemalloc.is_tracing():
        tracemalloc.start(int(request['trace']))  # from now on: what is allocated from here on is traced
    objects = all_objects()
    report: dict[str, Any] = {
        'label': label, 'time': time.time(), 'rss_kib': rss_kib(), 'malloc': malloc_kib(),
        'frozen': gc.get_freeze_count(),
        'gc_objects': len(objects), 'gc_count': gc.get_count(),
        'gc_collections': [generation['collections'] for generation in gc.get_stats()],
        'blocks': sys.getallocatedblocks(), 'nicegui': nicegui_counts(), 'tasks': task_counts(),
        'containers': container_sizes(roots()),
    }
    if collect:
        report['types_before_collect'] = census(objects)
    del objects
    if collect:
        frozen = gc.get_freeze_count()
        gc.unfreeze()
        collecting = time.perf_counter()
        report['collected'] = gc.collect()
        report['collect_seconds'] = time.perf_counter() - collecting
        objects = gc.get_objects()
        report['gc_objects_collected'] = len(objects)
        report['types'] = census(objects)
        del objects
        report['rss_kib_collected'] = rss_kib()
        report['malloc_collected'] = malloc_kib()
        report['blocks_collected'] = sys.getallocatedblocks()
        report['pymalloc_kib_collected'] = pymalloc_kib()
        if frozen:
            gc.freeze()  # as the server keeps it (app/gc_tuning.py)
        if tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)])
            snapshot.dump(str(folder / f'{label}.tracemalloc'))
            report['traced_kib'] = tracemalloc.get_traced_memory()[0] // 1024
    report['probe_seconds'] = time.perf_counter() - began
    (folder / f'{label}.json').write_text(json.dumps(report))
    (folder / f'{label}.done').touch()


def install(folder: Path) -> None:
    """Answer SIGUSR1 with a probe run on the server's event loop (registered as a NiceGUI start-up handler)."""
    from nicegui import app

    def on_startup() -> None:
        loop = asyncio.get_running_loop()

        def safe() -> None:
            try:
                probe(folder)
            except Exception as error:  # the probe must never take the server down
                (folder / 'error.txt').write_text(repr(error))

        signal.signal(signal.SIGUSR1, lambda *_: loop.call_soon_threadsafe(safe))

    app.on_startup(on_startup)


def main() -> None:
    folder, script, *rest = sys.argv[1:]
    folder_path = Path(folder).resolve()
    folder_path.mkdir(parents=True, exist_ok=True)
    install(folder_path)
    script_path = Path(script).resolve()
    sys.argv = [str(script_path), *rest]
    sys.path[0] = str(script_path.parent)  # as `python main.py` has it
    runpy.run_path(str(script_path), run_name='__main__')


if __name__ == '__main__':
    main()
