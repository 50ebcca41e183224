"""Vigil's demo server with one more route for bench.dashmem: what each open page holds in the server process.

    python bench/dashmem_server.py --demo --no-simulator --port N   (started by bench.dashmem, never deployed)

GET /api/_bench/pages runs a full garbage collection (thawing what Vigil's GcTuner froze), then answers with the
server's RSS, the live objects by type and, for every open page: its elements by type (count, props/classes/style
as JSON) and by the Vigil line that made them, event listeners, NiceGUI bindings that involve its elements, its
head/body HTML, outbox and storage. With VIGIL_BENCH_TRACE=N set,
POST /api/_bench/mark starts tracemalloc (N frames per allocation), and GET /api/_bench/pages then also lists the
memory allocated since the mark and still held by the innermost Vigil source line (components/, pages/).
"""

import gc
import json
import os
import runpy
import sys
import tracemalloc
import weakref
from collections import Counter
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent
MAIN = PROJECT_DIR / 'main.py'
OWN = (str(PROJECT_DIR / 'components'), str(PROJECT_DIR / 'pages'), str(PROJECT_DIR / 'app'))

TRACE_FRAMES = int(os.environ.get('VIGIL_BENCH_TRACE', '0') or 0)
# main.py sets this before it imports NiceGUI, which this module does first.
os.environ.setdefault('NICEGUI_STORAGE_PATH', str(Path(os.environ.get('VIGIL_DATA_DIR', '.')) / 'nicegui'))

from nicegui import Client, binding  # noqa: E402
from nicegui import app as nicegui_app  # noqa: E402
from nicegui.element import Element  # noqa: E402

_made_at: 'weakref.WeakKeyDictionary[Element, str]' = weakref.WeakKeyDictionary()
_element_init = Element.__init__


def _init_and_note_site(self: Element, *args: Any, **kwargs: Any) -> None:
    # Where in Vigil's own code each element was made: the innermost frame of components/ or pages/.
    _element_init(self, *args, **kwargs)
    frame = sys._getframe(1)
    while frame is not None and not frame.f_code.co_filename.startswith(OWN):
        frame = frame.f_back
    if frame is not None:
        _made_at[self] = f'{Path(frame.f_code.co_filename).relative_to(PROJECT_DIR)}:{frame.f_lineno}'


Element.__init__ = _init_and_note_site  # type: ignore[method-assign]


def _json_len(value: Any) -> int:
    try:
        return len(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return len(repr(value))


def _collect() -> None:
    # Vigil's GcTuner (app/gc_tuning.py) freezes survivors every few seconds: frozen objects are neither collected nor
    # listed by gc.get_objects(). Thaw, collect everything, and freeze again as the tuner would.
    frozen = gc.get_freeze_count() > 0
    gc.unfreeze()
    gc.collect()
    if frozen:
        gc.freeze()


def _rss_kib() -> int:
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    return 0


def _page(client: Client, links_by_id: Counter[int], bindings_by_id: Counter[int]) -> dict[str, Any]:
    kinds: dict[str, dict[str, int]] = {}
    sites: Counter[str] = Counter()
    for element in list(client.elements.values()):
        sites[_made_at.get(element, '(NiceGUI itself)')] += 1
        kind = kinds.setdefault(type(element).__name__, Counter())
        kind['count'] += 1
        kind['props'] += _json_len(dict(element._props))
        kind['classes'] += _json_len(list(element._classes))
        kind['style'] += _json_len(dict(element._style))
        kind['text'] += len(element._text or '')
        kind['listeners'] += len(element._event_listeners)
        kind['bindings'] += bindings_by_id[id(element)]
        kind['active_links'] += links_by_id[id(element)]
    outbox = client.outbox
    return {
        'id': client.id, 'path': client.page.path if client.page else '', 'kinds': kinds, 'sites': sites,
        'head_html': len(client._head_html), 'body_html': len(client._body_html),
        'outbox_updates': len(getattr(outbox, 'updates', ())), 'outbox_messages': len(getattr(outbox, 'messages', ())),
        'storage': _json_len(dict(client.storage)),
        'handlers': len(client.connect_handlers) + len(client.disconnect_handlers) + len(client.delete_handlers),
    }


@nicegui_app.post('/api/_bench/mark')
def mark() -> dict[str, bool]:
    _collect()
    if TRACE_FRAMES:  # from here on only: tracing the start-up (migrations, demo seed) would take minutes
        tracemalloc.stop()
        tracemalloc.start(TRACE_FRAMES)
    return {'traced': bool(TRACE_FRAMES)}


@nicegui_app.get('/api/_bench/pages')
def pages() -> dict[str, Any]:
    _collect()
    links_by_id: Counter[int] = Counter()
    for source, _, target, _, _ in binding.active_links:
        links_by_id[id(source)] += 1
        links_by_id[id(target)] += 1
    bindings_by_id: Counter[int] = Counter()
    for (object_id, _), entries in binding.bindings.items():
        bindings_by_id[object_id] += len(entries)
        for _, target, _, _ in entries:
            bindings_by_id[id(target)] += 1
    frozen = gc.get_freeze_count() > 0
    gc.unfreeze()
    types: Counter[str] = Counter()
    for o in gc.get_objects():  # containers only (what gc tracks); coroutines and bound methods by what they run
        name = type(o).__name__
        if name in ('coroutine', 'method'):
            name = f'{name} {getattr(o, "__qualname__", "?")}'
        types[name] += 1
    if frozen:
        gc.freeze()
    answer: dict[str, Any] = {
        'rss_kib': _rss_kib(), 'types': dict(types),
        'active_links': len(binding.active_links), 'bindings': sum(len(v) for v in binding.bindings.values()),
        'user_storage': {str(k): _json_len(dict(v)) for k, v in getattr(nicegui_app.storage, '_users', {}).items()},
        'pages': [_page(c, links_by_id, bindings_by_id) for c in list(Client.instances.values())],
    }
    if tracemalloc.is_tracing():
        answer['allocated'] = _allocated_since_mark()
    return answer


def _allocated_since_mark() -> list[dict[str, Any]]:
    """Memory allocated since the mark and still held, by the innermost Vigil line that led to it."""
    by_site: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for stat in tracemalloc.take_snapshot().statistics('traceback'):
        frames = list(stat.traceback)[::-1]  # tracemalloc lists the oldest frame first
        site = next((f'{Path(f.filename).relative_to(PROJECT_DIR)}:{f.lineno}' for f in frames
                     if f.filename.startswith(OWN)), None)
        if site is None:  # no Vigil frame among those recorded: the innermost few say where
            site = '(outside Vigil) ' + ' < '.join(f'{Path(f.filename).name}:{f.lineno}' for f in frames[:4])
        by_site[site] += stat.size
        counts[site] += stat.count
    return [{'site': site, 'bytes': size, 'blocks': counts[site]} for site, size in by_site.most_common(40)]


if __name__ == '__main__':
    sys.argv[0] = str(MAIN)
    sys.path.insert(0, str(PROJECT_DIR))
    runpy.run_path(str(MAIN), run_name='__main__')
