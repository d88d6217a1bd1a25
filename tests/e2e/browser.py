"""Headless Chromium from Debian's packages, driven by Playwright, for the UI tests.

Playwright's own browser download needs its CDN; the tests use the distribution's `chromium`
instead (Playwright launches it through ``executable_path``). When it is missing the set-up
installs it with apt, as CI runs as root on a fresh machine; elsewhere it says what to run.
Screenshots go where CI keeps artifacts: ``$CONVEYOR_TEST_ARTIFACTS``, else ``test-artifacts/``.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from soak.services import apt_install

CHROMIUM = Path("/usr/bin/chromium")
PACKAGES = ("chromium",)
REPO = Path(__file__).resolve().parents[2]


class BrowserSetupError(RuntimeError):
    pass


def ensure_chromium() -> Path:
    """The system Chromium, installed from Debian's packages when absent (only as root)."""
    if CHROMIUM.exists():
        return CHROMIUM
    apt_install(PACKAGES, f"Chromium at {CHROMIUM} is")
    if not CHROMIUM.exists():
        raise BrowserSetupError(
            f"apt installed {PACKAGES} but {CHROMIUM} is missing (`chromium` on PATH: {shutil.which('chromium')})"
        )
    return CHROMIUM


def artifacts_dir(name: str) -> Path:
    """A fresh folder for one test's screenshots, under the folder CI keeps."""
    root = Path(os.environ.get("CONVEYOR_TEST_ARTIFACTS") or REPO / "test-artifacts")
    folder = root / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


@contextmanager
def chromium_page(viewport: tuple[int, int] = (1440, 900), failure_shot: Path | None = None):
    """A Playwright page in a fresh headless Chromium context; the browser is closed after.

    When the body raises, the page as it was is saved to ``failure_shot`` (if given) first.
    """
    from playwright.sync_api import expect, sync_playwright

    executable = ensure_chromium()
    expect.set_options(timeout=60_000)  # a busy CI machine renders the React UI slowly
    with sync_playwright() as pw:
        # --no-sandbox: CI runs as root, where Chromium refuses its sandbox.
        browser = pw.chromium.launch(
            executable_path=str(executable), headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            context.set_default_timeout(60_000)
            page = context.new_page()
            try:
                yield page
            except BaseException:
                if failure_shot is not None:
                    try:
                        page.screenshot(path=failure_shot, full_page=True, timeout=15_000)
                    except Exception:  # the original failure matters more than its picture
                        pass
                raise
        finally:
            browser.close()
