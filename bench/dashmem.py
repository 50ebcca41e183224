"""Where an open staff dashboard's server memory goes: elements, props, bindings, HTML, objects, allocation sites.

    python -m bench.dashmem [--pages 10] [--users admin,charge,doctor,nurse] [--path /] [--open-alerts 0] [--trace 0]

One demo server (bench/dashmem_server.py: main.py plus a route that looks inside the process) is started; each user
signs in through the real sign-in page and opens one warm-up page, then --pages more of them the way a browser does
(HTML, then the socket, kept open); with --open-alerts N, N high-priority alerts are raised through the API first
(one per patient in turn) and left open, so every page shows its scope's share of them. After the garbage collector
has run, the server reports every open page. Printed, per open page: RSS (all pages' growth over the warm-up,
divided by their number), the elements by type with the JSON size of their props, classes, style and text, event
listeners, NiceGUI bindings, the page's head and body HTML, the HTML a browser receives; then the live Python
objects the pages added, by type. With --trace N (frames per allocation; slow, and it inflates RSS) it also lists
the memory the pages allocated by the innermost Vigil source line. Nothing is asserted: compare runs before and
after a change on the same machine.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp

from bench.browser import Tab, load_page, sign_in
from bench.server import PROJECT_DIR, ServerProcess

SCRIPT = PROJECT_DIR / 'bench' / 'dashmem_server.py'


async def report(http: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    async with http.get(f'{base}/api/_bench/pages') as response:
        response.raise_for_status()
        return dict(await response.json())


async def open_pages(http: aiohttp.ClientSession, base: str, path: str, cookie: str, count: int) -> list[Tab]:
    tabs = []
    for _ in range(count):  # one after another: the numbers, not the speed, matter here
        page = await load_page(http, base, path, cookie)
        tab = Tab(http, base, page)
        await tab.connect()
        tabs.append(tab)
    return tabs


async def raise_open_alerts(http: aiohttp.ClientSession, server: ServerProcess, count: int) -> None:
    """Raise `count` high-priority alerts through the API, one per patient in turn, and leave them open."""
    token = await server.create_token('general', 'integration', 'dashmem open alerts')
    headers = {'Authorization': f'Bearer {token}'}
    async with http.get(f'{server.base}/api/v1/patients', headers=headers) as response:
        response.raise_for_status()
        body = await response.json()
    mrns = [str(p['mrn']) for p in (body['items'] if isinstance(body, dict) else body)]
    for index in range(count):
        alert = {'patient_mrn': mrns[index % len(mrns)], 'priority': 'high', 'message': f'Open alert {index}'}
        async with http.post(f'{server.base}/api/v1/alerts', json=alert, headers=headers) as response:
            response.raise_for_status()


async def measure(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix='vigil-dashmem-') as folder:
        env = {'VIGIL_BENCH_TRACE': str(args.trace)} if args.trace else {}
        server = ServerProcess(Path(folder), script=SCRIPT, env=env)
        tabs: list[Tab] = []
        try:
            # A connection per socket and no pool limit: every open page keeps its websocket.
            connector = aiohttp.TCPConnector(force_close=True, limit=0)
            async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                             timeout=aiohttp.ClientTimeout(total=120)) as http:
                await server.start()
                if args.open_alerts:
                    await raise_open_alerts(http, server, args.open_alerts)
                cookies = {user: await sign_in(http, server.base, user, args.password) for user in args.users}
                for cookie in cookies.values():
                    tabs += await open_pages(http, server.base, args.path, cookie, 1)
                await asyncio.sleep(args.settle)
                async with http.post(f'{server.base}/api/_bench/mark') as response:
                    response.raise_for_status()
                before = await report(http, server.base)
                html: dict[str, list[int]] = defaultdict(list)
                tree: dict[str, list[int]] = defaultdict(list)
                owner: dict[str, str] = {}
                for user, cookie in cookies.items():
                    opened = await open_pages(http, server.base, args.path, cookie, args.pages)
                    tabs += opened
                    for tab in opened:
                        html[user].append(tab.page.html_bytes)
                        tree[user].append(len(json.dumps(tab.page.elements)))
                        owner[tab.page.client_id] = user
                await asyncio.sleep(args.settle)
                after = await report(http, server.base)
                print_report(args, before, after, owner, html, tree)
        except Exception:
            print(f'server log (last lines):\n{server.log_tail()}', file=sys.stderr)
            raise
        finally:
            await asyncio.gather(*(t.close() for t in tabs), return_exceptions=True)
            await server.stop()


def print_report(args: argparse.Namespace, before: dict[str, Any], after: dict[str, Any], owner: dict[str, str],
                 html: dict[str, list[int]], tree: dict[str, list[int]]) -> None:
    opened = [p for p in after['pages'] if p['id'] in owner]
    count = len(opened) or 1
    rss = (after['rss_kib'] - before['rss_kib']) / count
    print(f'\n{len(opened)} pages {args.path} opened after the warm-up ({", ".join(args.users)}), '
          f'{args.open_alerts} alerts open; server RSS {before["rss_kib"]} -> {after["rss_kib"]} KiB: '
          f'{rss:.0f} KiB per page (after gc)'
          + (' [tracemalloc on: inflated]' if args.trace else ''))
    print('\nPer page, by user (averages):')
    print(f'{"user":<8} {"elements":>8} {"props B":>8} {"classes B":>9} {"text B":>7} {"listeners":>9} '
          f'{"bindings":>8} {"links":>5} {"head B":>7} {"body B":>7} {"HTML B":>7} {"tree B":>7} {"handlers":>8}')
    for user in args.users:
        mine = [p for p in opened if owner[p['id']] == user]
        if not mine:
            continue

        def avg(key: str, pages: list[dict[str, Any]] = mine) -> float:
            return sum(sum(k[key] for k in p['kinds'].values()) for p in pages) / len(pages)

        def avg_of(key: str, pages: list[dict[str, Any]] = mine) -> float:
            return sum(p[key] for p in pages) / len(pages)

        print(f'{user:<8} {avg("count"):>8.0f} {avg("props"):>8.0f} {avg("classes"):>9.0f} {avg("text"):>7.0f} '
              f'{avg("listeners"):>9.0f} {avg("bindings"):>8.0f} {avg("active_links"):>5.0f} '
              f'{avg_of("head_html"):>7.0f} {avg_of("body_html"):>7.0f} {sum(html[user]) / len(html[user]):>7.0f} '
              f'{sum(tree[user]) / len(tree[user]):>7.0f} {avg_of("handlers"):>8.0f}')
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for page in opened:
        for name, values in page['kinds'].items():
            kinds[name].update(values)
    print(f'\nElements by type, per page (all users), by count:\n{"type":<22} {"count":>6} {"props B":>8} '
          f'{"classes B":>9} {"style B":>7} {"text B":>7} {"listeners":>9} {"bindings":>8}')
    for name, values in sorted(kinds.items(), key=lambda item: -item[1]['count'])[:args.top]:
        print(f'{name:<22} {values["count"] / count:>6.1f} {values["props"] / count:>8.0f} '
              f'{values["classes"] / count:>9.0f} {values["style"] / count:>7.0f} {values["text"] / count:>7.0f} '
              f'{values["listeners"] / count:>9.1f} {values["bindings"] / count:>8.1f}')
    sites: Counter[str] = Counter()
    for page in opened:
        sites.update(page['sites'])
    print('\nElements per page by the Vigil line that made them (all users):')
    for site, n in sites.most_common(args.top):
        print(f'  {n / count:>5.1f}  {site}')
    print(f'\nNiceGUI bindings in the process: {before["bindings"]} -> {after["bindings"]}; active (polled) links '
          f'{before["active_links"]} -> {after["active_links"]}')
    grown = Counter({name: after['types'].get(name, 0) - before['types'].get(name, 0) for name in after['types']})
    print('\nLive Python objects the pages added, per page (top types):')
    print('  ' + ', '.join(f'{name} {n / count:.0f}' for name, n in grown.most_common(args.top) if n > 0))
    sizes = sorted(after['user_storage'].values())
    if sizes:
        print(f'\nPer-user storage (JSON bytes, shared by a user\'s pages): {sizes}')
    if 'allocated' in after:
        total = sum(a['bytes'] for a in after['allocated'])
        print(f'\nAllocated since the warm-up and still held, per page, by innermost Vigil line '
              f'(top 40 sites: {total / count / 1024:.0f} KiB per page):')
        for site in after['allocated'][:args.top]:
            print(f'  {site["bytes"] / count / 1024:>7.1f} KiB  {site["blocks"] / count:>7.0f} blocks  {site["site"]}')


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='python -m bench.dashmem', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--pages', type=int, default=10, help='pages opened per user after the warm-up')
    parser.add_argument('--users', default='admin,charge,doctor,nurse', help='demo users, comma-separated')
    parser.add_argument('--path', default='/', help='the staff page to open')
    parser.add_argument('--password', default=os.environ.get('VIGIL_DEMO_PASSWORD', 'demo'))
    parser.add_argument('--settle', type=float, default=5.0,
                        help='seconds to let the pages load their data (and acknowledge what was sent)')
    parser.add_argument('--open-alerts', type=int, default=0,
                        help='high-priority alerts raised (and left open) before the pages open')
    parser.add_argument('--trace', type=int, default=0, help='tracemalloc frames per allocation (0: off)')
    parser.add_argument('--top', type=int, default=25, help='rows in the by-type and by-site lists')
    args = parser.parse_args(argv)
    args.users = [u.strip() for u in args.users.split(',') if u.strip()]
    if args.pages < 1 or not args.users:
        parser.error('need at least one page and one user')
    return args


if __name__ == '__main__':
    asyncio.run(measure(parse_args(sys.argv[1:])))
