"""Debian's headless Chromium driven by selenium (used by the dashboard test and
scripts/dashboard_screenshot.py).

Chromium is started by chromedriver with the flags a root user in a container needs, a
fresh profile directory, and no background traffic (no sync, updates, QUIC, first-run
pages), so the only requests it makes are the page's own.
"""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

FLAGS = (
    "--headless",
    "--no-sandbox",  # we run as root; the sandbox refuses to start then
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


def chromium_paths() -> tuple[str | None, str | None]:
    """(browser, driver) executables, None where missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    return browser, shutil.which("chromedriver")


@contextmanager
def chromium(width: int = 1400, height: int = 1000):
    """A selenium ``webdriver.Chrome`` on the system Chromium; quits and cleans up after."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver_path = chromium_paths()
    if browser is None or driver_path is None:
        raise RuntimeError("chromium and chromedriver are needed (scripts/install-system-deps.sh)")
    profile = Path(tempfile.mkdtemp(prefix="aga-otel-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        try:
            driver.quit()
        finally:
            shutil.rmtree(profile, ignore_errors=True)


def console_errors(driver) -> list[dict]:
    """Browser console entries at SEVERE level since the last call."""
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
