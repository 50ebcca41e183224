"""Browser-test fixtures: the demo server as a real process, headless Chromium, one browser context per user."""

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from ..conftest import unavailable
from .harness import VigilServer, chromium_path, launch_chromium, sign_in

# Live updates arrive within a fraction of a second; the margin is for a loaded 2-core CI machine.
expect.set_options(timeout=10_000)

OpenAs = Callable[..., Page]


@pytest.fixture(scope='package', autouse=True)
def chromium_installed() -> None:
    """Skip (fail in CI) before any server starts when there is no browser to drive."""
    if chromium_path() is None:
        unavailable('Chromium is not installed (apt-get install chromium chromium-driver)')


@pytest.fixture(scope='package')
def playwright() -> Iterator[Playwright]:
    """Playwright's driver; package scope, so it is gone before the asyncio tests of other packages run."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope='package')
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = launch_chromium(playwright)
    yield chromium
    chromium.close()


@pytest.fixture(scope='package')
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VigilServer]:
    """One quiet demo server (no simulator) shared by the tests that do not stop it."""
    vigil = VigilServer(tmp_path_factory.mktemp('vigil-server'))
    vigil.start()
    yield vigil
    vigil.stop()


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[VigilServer]:
    """A demo server of this test alone, which the test may stop and restart."""
    vigil = VigilServer(tmp_path / 'vigil')
    vigil.start()
    yield vigil
    vigil.stop()


@pytest.fixture
def open_as(browser: Browser) -> Iterator[OpenAs]:
    """Return `open_as(server, username, viewport=None)`: a page signed in as that user in a context of its own."""
    contexts: list[BrowserContext] = []

    def open_page(server: VigilServer, username: str, *, viewport: dict[str, int] | None = None,
                  path: str = '/') -> Page:
        context = browser.new_context(viewport=viewport or {'width': 1280, 'height': 800})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        sign_in(page, server, username, next_path=path)
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def anonymous(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context with no sign-in (for the kiosk and the login page)."""
    context = browser.new_context(viewport={'width': 1920, 'height': 1080})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    """Attach the server's output to a failed browser test: the browser only sees the symptom."""
    report = yield
    if getattr(report, 'failed', False):
        for name in ('server', 'own_server'):
            vigil = getattr(item, 'funcargs', {}).get(name)
            if isinstance(vigil, VigilServer):
                report.sections.append((f'{name} output', vigil.log_tail()))  # type: ignore[attr-defined]
    return report
