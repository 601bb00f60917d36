"""Debian's Chromium for the page tests: a headless browser with a profile of its own, screenshots saved
under var/screenshots, and the phone-width check."""

from __future__ import annotations

import shutil
from pathlib import Path

from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def open_browser(tmp_path: Path) -> WebDriver:
    """A headless Chromium at desktop width that reaches nothing on its own (no updates, sync or QUIC)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_window_size(1280, 900)
    return driver


def shot(driver: WebDriver, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / name
    assert driver.save_screenshot(str(path))
    assert path.stat().st_size > 5_000  # a rendered page, not an empty canvas
    return path


def fits_a_phone(driver: WebDriver) -> bool:
    driver.set_window_size(390, 844)
    fits = driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    driver.set_window_size(1280, 900)
    return bool(fits)
