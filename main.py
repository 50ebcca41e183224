"""Vigil's entry point: `python main.py` serves, `python main.py --demo` seeds a demo first, verbs run the CLI."""

import asyncio
import logging
import multiprocessing
import os
import sys
import tomllib
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from app.bootstrap import StartupError, Vigil, build, migrate, seed
from app.cli import parse_args, run_verb
from app.config import LogFormat, Settings, SettingsError, settings_or_exit
from app.events.redis_transport import redis_location
from app.files import make_new_files_private, secure_data_dir
from app.lifecycle import GracefulStop

log = logging.getLogger('vigil')
# NiceGUI derives the socket ping timeout from this (0.4x): a busy moment of a few seconds must not drop every page.
RECONNECT_SECONDS = 10.0
UNCONNECTED_PAGE_SECONDS = 20.0  # a viewed page whose socket never connected is dropped after this long


def vigil_version() -> str:
    """Return Vigil's version (shown in the OpenAPI document): from pyproject.toml beside this file, where Vigil runs
    from its folder (the README's set-up) or the one-file binary carries it, else from installed metadata."""
    try:
        with (Path(__file__).resolve().parent / 'pyproject.toml').open('rb') as file:
            return str(tomllib.load(file)['project']['version'])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        pass
    try:
        return metadata.version('vigil')
    except metadata.PackageNotFoundError:
        return 'unknown'


def run_now(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a coroutine to completion before serving, also when an event loop already runs (NiceGUI's test runner)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, make()).result()


async def prepare(settings: Settings) -> None:
    """Migrate the database (and seed the demo) before the server accepts a single request."""
    await migrate(settings)
    if settings.demo:
        vigil = build(settings)
        try:
            await seed(vigil)
            if settings.demo_simulator:
                # The scripted patients' history is in place before the first request, like the rest of the demo.
                from app.simulator.scenes import play_scenes

                await play_scenes(vigil)
        finally:
            await vigil.close()


def start_demo_simulator(vigil: Vigil, settings: Settings) -> None:
    """Stream simulated vital signs for the demo patients into this server through its own HTTP API."""
    from nicegui import app as nicegui_app
    from nicegui import background_tasks

    from app.simulator import run_demo_simulator

    tasks: list[asyncio.Task[None]] = []

    def start() -> None:
        # NOTE: the loopback address even when serving 0.0.0.0; the simulator waits until /healthz answers.
        tasks.append(background_tasks.create(run_demo_simulator(vigil, f'http://127.0.0.1:{settings.port}'),
                                             name='vigil-demo-simulator'))

    def stop() -> None:
        for task in tasks:
            task.cancel()

    nicegui_app.on_startup(start)
    nicegui_app.on_shutdown(stop)


def start_mllp_listener(vigil: Vigil, settings: Settings) -> None:
    """Serve HL7 v2 over MLLP with the web server; at a stop, messages being stored get their ACK first."""
    from nicegui import app as nicegui_app

    from app.mllp.listener import MllpListener

    assert settings.mllp_port is not None
    listener = MllpListener(vigil.hl7_feeds, vigil.clock, vigil.telemetry, host=settings.mllp_host,
                            port=settings.mllp_port)
    try:
        listener.bind()
    except OSError as error:
        print(f'vigil: cannot listen for HL7 v2 (VIGIL_MLLP_PORT) on {settings.mllp_host}:{settings.mllp_port}: '
              f'{error.strerror or error}', file=sys.stderr)
        raise SystemExit(1) from None
    nicegui_app.state.mllp = listener  # NOTE: tests reach the listener (and the port it got) through this
    nicegui_app.on_startup(listener.start)
    # Registered before vigil.close: it still needs the database. NOTE: NiceGUI passes the app to a shutdown handler
    # that takes one parameter, which would land in stop's grace_seconds; the lambda takes none.
    nicegui_app.on_shutdown(lambda: listener.stop())


def log_server_start(settings: Settings) -> None:
    """Log the one line that says this process serves, where, on which database and bus (no passwords)."""
    database = make_url(settings.db_url)
    bus = 'memory'
    if settings.redis_url:
        bus = f'redis {redis_location(settings.redis_url)} prefix {settings.redis_prefix}'
    log.info('Vigil %s serving on http://%s:%d (database %s, event bus %s)', vigil_version(), settings.host,
             settings.port, database.render_as_string(hide_password=True), bus,
             extra={'event': 'server.start', 'version': vigil_version(), 'host': settings.host, 'port': settings.port,
                    'database': database.get_backend_name(), 'bus': 'redis' if settings.redis_url else 'memory',
                    'pid': os.getpid()})


def serve(settings: Settings) -> None:
    """Prepare the database, wire the services and pages, and run the server."""
    # NiceGUI keeps per-user storage in files; they belong with Vigil's other runtime data, not in the cwd.
    os.environ.setdefault('NICEGUI_STORAGE_PATH', str(settings.data_dir / 'nicegui'))
    if settings.redis_url and 'nicegui' not in sys.modules:
        # With Redis, NiceGUI's general and per-user storage live there, so preferences follow a user to any process.
        # NOTE: NiceGUI reads these once, at import, and sets up its general storage then: set them before importing.
        os.environ.setdefault('NICEGUI_REDIS_URL', settings.redis_url)
        os.environ.setdefault('NICEGUI_REDIS_KEY_PREFIX', f'{settings.redis_prefix}:nicegui:')
    # The UI stack is imported here, not at the top: CLI verbs start about a second faster without it.
    from fastapi.exceptions import RequestValidationError
    from nicegui import Client, core, ui
    from nicegui import app as nicegui_app
    from nicegui.server import Server
    from nicegui.storage import Storage

    import pages
    from app.api.errors import method_not_allowed, validation_error
    from app.api.health import health_router
    from app.api.openapi import install_openapi
    from app.api.request_limits import BodyLimits
    from app.api.routers import api_routers
    from app.gc_tuning import GcTuner
    from app.observability.http import HttpMetricsMiddleware
    from app.observability.logs import configure_logging, web_server_logging
    from app.services.escalation import Watchdog
    from app.web_security import SecurityHeaders, SocketOrigins, without_engineio_origin_errors
    from components.live import LiveHub
    from pages.browser_ids import install_browser_ids
    from pages.frame import AuthMiddleware
    from pages.plain_middlewares import install_plain_middlewares

    configure_logging(settings.log_level, settings.log_format)
    secure_data_dir(settings.data_dir)
    try:
        run_now(lambda: prepare(settings))
        vigil = build(settings)
    except SettingsError as error:
        print(f'vigil: {error}', file=sys.stderr)
        raise SystemExit(2) from None
    except StartupError as error:
        print(f'vigil: {error}', file=sys.stderr)
        raise SystemExit(1) from None
    # Again for user and tab storage, in case NiceGUI was imported before (its test runner serves many times).
    Storage.redis_url = os.environ.get('NICEGUI_REDIS_URL') or settings.redis_url or None
    Storage.redis_key_prefix = os.environ.get('NICEGUI_REDIS_KEY_PREFIX') or f'{settings.redis_prefix}:nicegui:'
    if Storage.redis_url:
        async def close_tab_storage() -> None:
            # NOTE: NiceGUI 3.18 closes Redis-backed user storage at shutdown but not tab storage: close it, so its
            # Redis connections end cleanly instead of being dropped at exit.
            for tab_id in list(getattr(nicegui_app.storage, '_tabs', {})):
                await nicegui_app.storage.close_tab(tab_id)

        nicegui_app.on_shutdown(close_tab_storage)
    if settings.redis_url and settings.storage_secret is None:
        log.warning('VIGIL_REDIS_URL is set but VIGIL_STORAGE_SECRET is not: every process behind the load balancer '
                    'must sign sessions with the same secret, or a user signed in on one is a stranger to the others')
    # NOTE: FastAPI wraps the app's lifespan in every include_router call. Our routers have no lifespan of their
    # own, and NiceGUI's test runner executes this function once per test: without the restore, the wrapping nests
    # deeper with every test until the stack overflows.
    lifespan = nicegui_app.router.lifespan_context

    def stopping() -> bool:
        # NOTE: uvicorn waits for open responses before NiceGUI's shutdown handlers run: event streams poll this.
        return bool(getattr(getattr(Server, 'instance', None), 'should_exit', False))

    nicegui_app.include_router(health_router(vigil, stopping))

    for router in api_routers(vigil, stopping=stopping):
        nicegui_app.include_router(router)
    nicegui_app.router.lifespan_context = lifespan
    nicegui_app.title = 'Vigil API'
    nicegui_app.version = vigil_version()
    # The hub re-reads the accounts of open pages as often as the watchdog looks for due escalations.
    hub = LiveHub(vigil.bus, accounts=vigil.users.account_states, account_check_seconds=settings.watchdog_seconds,
                  clock=vigil.clock)
    nicegui_app.state.vigil = vigil  # NOTE: tests reach the running services through these two
    nicegui_app.state.hub = hub
    # NOTE: added before ui.run, so NiceGUI's session middleware (added by ui.run) wraps it and storage works.
    nicegui_app.add_middleware(AuthMiddleware)
    # Outside the sign-in check and every route: an oversized body is refused before anything reads or parses it.
    nicegui_app.add_middleware(BodyLimits)
    # Outside both: refusals (413) and the sign-in redirect carry the security headers too. HSTS only behind TLS.
    nicegui_app.add_middleware(SecurityHeaders, hsts=settings.https_only)
    nicegui_app.add_exception_handler(RequestValidationError, validation_error)
    nicegui_app.add_exception_handler(405, method_not_allowed)
    install_openapi(nicegui_app)
    nicegui_app.add_middleware(HttpMetricsMiddleware, telemetry=vigil.telemetry)  # outermost: times everything
    pages.register(vigil, hub, vigil_version())
    # NiceGUI lets a page of any origin open its socket (cors_allowed_origins='*'); engine.io asks this instead.
    core.sio.eio.cors_allowed_origins = SocketOrigins(settings.allowed_origins)
    core.sio.eio.logger.addFilter(without_engineio_origin_errors)  # the same function each time: added once
    # Connect the bus at start (with Redis: subscribe), not at the first publish: a process that writes nothing
    # must still hear the others.
    nicegui_app.on_startup(vigil.bus.start)
    nicegui_app.on_startup(hub.start)
    vigil.telemetry.session_counts = lambda: {h: len(hub.sessions(h)) for h in hub.hospitals_present()}
    nicegui_app.on_startup(lambda: log_server_start(settings))
    nicegui_app.on_shutdown(hub.stop)
    gc_tuner = GcTuner()
    nicegui_app.on_delete(gc_tuner.page_released)
    # A page whose browser never opened its socket (a script fetching /login, a probe) is dropped after
    # UNCONNECTED_PAGE_SECONDS instead of NiceGUI's 60 s: a browser connects within a second or two, and a flood of
    # such views costs what this window holds (about 100 KB per page). A later connect simply reloads the page.
    nicegui_app.timer(5, lambda: Client.prune_instances(client_age_threshold=UNCONNECTED_PAGE_SECONDS))
    nicegui_app.on_startup(gc_tuner.start)
    nicegui_app.on_shutdown(gc_tuner.stop)
    # Escalation and device-silence checks; each step is claimed in the database, so several processes may run it.
    watchdog = Watchdog(vigil.db, vigil.clock, vigil.alerts, vigil.rules, interval_seconds=settings.watchdog_seconds)
    nicegui_app.on_startup(watchdog.start)
    nicegui_app.on_shutdown(watchdog.stop)
    # Outbound webhooks from the outbox; each attempt is claimed in the database, so several processes may run it.
    from app.webhooks.dispatcher import WebhookDispatcher

    webhooks = WebhookDispatcher(vigil.db, vigil.clock)
    nicegui_app.on_startup(webhooks.start)
    nicegui_app.on_shutdown(webhooks.stop)
    if settings.demo and settings.demo_simulator:
        start_demo_simulator(vigil, settings)
    if settings.mllp_port is not None:
        start_mllp_listener(vigil, settings)
    nicegui_app.on_shutdown(vigil.close)
    json_logs = settings.log_format is LogFormat.JSON
    if settings.demo:
        ready = (f'Vigil demo ready: open http://{settings.host}:{settings.port}/login and sign in as admin, charge, '
                 'nurse or doctor (Vigil General Hospital) or rnurse (Riverside Community Hospital); the password is '
                 f'{"set by VIGIL_DEMO_PASSWORD" if "demo_password" in settings.model_fields_set else "demo"}.')
        # With JSON logs every line of output is a JSON object, this one included.
        nicegui_app.on_startup(lambda: log.info(ready, extra={'event': 'server.demo'}) if json_logs
                               else print(ready, flush=True))
    # Per-browser storage only for requests that use it, and a new browser id at every sign-in and sign-out.
    install_browser_ids()
    install_plain_middlewares()  # NiceGUI's redirect-prefix and cache-control headers without a task per request
    # Session cookie: HttpOnly (always, Starlette), SameSite strict, a shift-long lifetime, HTTPS-only behind TLS.
    cookie = {'same_site': 'strict', 'max_age': int(settings.session_hours * 3600), 'https_only': settings.https_only}
    # SIGTERM and SIGINT: open requests get a bounded grace period, then exit 0 after a clean stop (app/lifecycle.py).
    # NOTE: not under NiceGUI's test runner (ui.run returns at once there): pytest keeps its own Ctrl+C.
    stop = GracefulStop()
    serving = not os.environ.get('NICEGUI_USER_SIMULATION')
    if serving:
        stop.install()
        nicegui_app.on_startup(stop.chain)
    # Quasar's loading bar is a progressbar while a request is under way: screen readers need its name.
    nicegui_app.config.quasar_config['loadingBar']['aria-label'] = 'Loading'
    # language: the `lang` of every page's <html> (screen readers pick their voice by it) and Quasar's own labels.
    ui.run(host=settings.host, port=settings.port, title='Vigil', storage_secret=settings.resolved_storage_secret(),
           language='en-GB', session_middleware_kwargs=cookie, reload=False, show=False,
           show_welcome_message=not (settings.demo or json_logs), fastapi_docs=True,
           reconnect_timeout=RECONNECT_SECONDS, timeout_graceful_shutdown=stop.grace_seconds,
           # NOTE: the same proxies the sign-in page believes (app/client_address.py), so logs name the same client.
           proxy_headers=bool(settings.trusted_networks),
           forwarded_allow_ips=[str(network) for network in settings.trusted_networks],
           **web_server_logging(settings.log_format))
    if serving:
        raise SystemExit(stop.finish(forced=Server.instance.force_exit))


def main(argv: list[str]) -> None:
    """Dispatch the command line."""
    make_new_files_private()  # the database, its WAL and per-browser storage hold patient data
    args = parse_args(argv)
    if args.verb:
        raise SystemExit(run_verb(args))
    overrides: dict[str, object] = {
        k: v for k, v in {'demo': args.demo or None, 'host': args.host, 'port': args.port}.items() if v}
    if args.no_simulator:
        overrides['demo_simulator'] = False
    settings = settings_or_exit().model_copy(update=overrides)
    serve(settings)


if __name__ in {'__main__', '__mp_main__'}:
    # In the one-file binary a worker process (NiceGUI's process pool) re-runs the executable: it must do its task
    # here, not parse the command line. A no-op when not frozen.
    multiprocessing.freeze_support()
    # NOTE: NiceGUI's user-simulation test fixture runs this file with pytest's argv; tests configure via VIGIL_*.
    main([] if os.environ.get('NICEGUI_USER_SIMULATION') else sys.argv[1:])
