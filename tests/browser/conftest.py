"""The app on a live server for Playwright: daphne (HTTP + websockets) in a subprocess on a free
loopback port, against its own SQLite file and media folder, seeded by tests/browser/seed.py.

pytest-django's live_server is WSGI-only (no websockets), hence daphne. Screenshots go to
test-artifacts/ (git-ignored).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.services import in_ci

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1280, "height": 800}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"daphne did not listen on {port} within {timeout} s")


class LiveApp:
    def __init__(self, url: str, seed: dict, root: Path):
        self.url, self.seed, self.root = url, seed, root


def start_app(root: Path, seed_module: str = "tests.browser.seed", extra_env: dict | None = None):
    """Migrate, seed and start daphne under ``root``; returns (LiveApp, process, log file)."""
    env = {**os.environ, "JEWELREVIEW_VAR": str(root), "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}",
           "MEDIA_ROOT": str(root / "media"), "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "jewelreview.settings",
           "REDIS_URL": "", "CELERY_BROKER_URL": "", "LOG_LEVEL": "WARNING", **(extra_env or {})}
    py = sys.executable
    subprocess.run([py, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=env, check=True)
    out = subprocess.run([py, "-m", seed_module], cwd=REPO, env=env, check=True, capture_output=True, text=True)
    seed = json.loads(out.stdout.strip().splitlines()[-1])
    port = _free_port()
    log = open(root / "daphne.log", "w")
    daphne = shutil.which("daphne", path=str(Path(py).parent)) or "daphne"
    proc = subprocess.Popen([daphne, "-b", "127.0.0.1", "-p", str(port), "jewelreview.asgi:application"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    _wait_port(port, proc)
    return LiveApp(f"http://127.0.0.1:{port}", seed, root), proc, log


@pytest.fixture(scope="session")
def live_app(tmp_path_factory):
    app, proc, log = start_app(tmp_path_factory.mktemp("live"))
    yield app
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if in_ci():
            pytest.fail(f"CI=true but {CHROMIUM} is missing (make system-deps installs it)")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def login(browser, app: LiveApp, username: str):
    """A fresh browser context signed in as ``username`` through the login form."""
    ctx = browser.new_context(viewport=VIEWPORT)
    page = ctx.new_page()
    page.js_errors = []
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    page.goto(f"{app.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw")
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    return ctx, page


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def open_editor(page, app: LiveApp, image_id: int):
    page.goto(f"{app.url}/images/{image_id}/editor/")
    try:
        page.wait_for_function("window.jrEditor && window.jrEditor.socket.synced", timeout=15000)
    except Exception:
        raise AssertionError(f"the editor did not start: {getattr(page, 'js_errors', [])}") from None
    return page


def wait_tiles(page):
    """Until every tile the view needs is on screen (nothing queued or in flight)."""
    page.wait_for_function("""() => { const v = window.jrEditor.viewer;
        return v.cache.queue.length === 0 && v.cache.active === 0 && v.visibleMaskUrls().every(u => v.cache.has(u)); }""")
    page.wait_for_timeout(50)
