"""The HTML report in a real browser: headless Chromium loads it with no console error, no
CSP violation and no network request beyond the file itself, and takes a screenshot.

One Chromium launch for the suite. Driven over the DevTools protocol (see cdp.py).
"""

from __future__ import annotations

import os
import shutil
import struct
import zlib
from pathlib import Path

import pytest

from tests.integration.ui.cdp import load_page
from tests.integration.ui.ui_support import PHI, Recorded, hgate
from tests.secrecy import assert_absent

pytestmark = pytest.mark.integration
WIDTH, HEIGHT = 1280, 2000


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw scanlines of an 8-bit RGB(A) PNG."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n"), "not a PNG"
    position, idat, width, height = 8, b"", 0, 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        position += 12 + length
    return width, height, zlib.decompress(idat)


def test_the_report_renders_cleanly_in_chromium(recorded: Recorded, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: scripts/test-all installs Debian's package")
    page = tmp_path / "report.html"
    done = hgate(
        "report", str(recorded.transcript), "--key", str(recorded.key), "--html", str(page)
    )
    assert done.returncode == 0, done.stderr
    html = page.read_text()
    assert_absent(PHI, report=html)

    load = load_page(chromium, page, tmp_path / "profile", width=WIDTH, height=HEIGHT)

    assert load.errors == []
    browser_own = ("chrome://", "chrome-extension://", "devtools://")  # the blank start tab
    fetched = [url for url in load.requests if not url.startswith(browser_own)]
    assert fetched == [page.resolve().as_uri()], "the page loaded something else"
    assert load.title.startswith("hgate · VALID · ")
    shot = tmp_path / "report.png"
    shot.write_bytes(load.screenshot)
    if target := os.environ.get("HGATE_SCREENSHOT"):
        shutil.copyfile(shot, target)
    width, height, raw = png_pixels(load.screenshot)
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(load.screenshot) > 30_000, "a nearly blank screenshot"
    stride = len(raw) // height
    # Distinct byte triples of the (filtered) scanlines: a blank page has a handful.
    colours = {raw[row * stride + 1 + col * 3 : row * stride + 4 + col * 3]
               for row in range(0, height, 7) for col in range(0, width, 5)}  # fmt: skip
    assert len(colours) > 40, f"only {len(colours)} colours: the page did not render"
