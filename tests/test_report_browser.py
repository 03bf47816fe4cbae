"""report.html in a real browser (headless Chromium): the explorer renders with no
console message and the page asks for nothing over the network. Skipped where no
Chromium is installed (CI installs the Debian package `chromium`)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from synthetic_runs import SMALL, write_model_run

from ipcbench.render.html import write_report

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser",
                                               "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")


def _chromium(*args: str, timeout_s: float = 90) -> subprocess.CompletedProcess:
    # Every host name resolves to nothing: a page that fetched anything would log a
    # failed load (and its <img>/<script> would not render).
    return subprocess.run(
        [CHROMIUM, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
         "--enable-logging=stderr", "--v=0", "--host-resolver-rules=MAP * ~NOTFOUND",
         *args], capture_output=True, text=True, timeout=timeout_s, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    a = write_model_run(base / "run-a", placements=("same-core", "cross-core"), **SMALL)
    b = write_model_run(base / "run-b", scale=1.3, placements=("same-core",), **SMALL)
    return write_report([a, b], base / "out")


def test_report_renders_without_console_messages(report):
    result = _chromium("--dump-dom", report.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    dom = result.stdout
    marker = re.search(r'<div id="ipcbench-ready" data-explorers="(\d+)"', dom)
    assert marker and int(marker.group(1)) == 2  # one explorer per run, both drawn
    assert dom.count("<polyline") >= 2 and dom.count("<rect") >= 2  # lines and bars drawn
    assert "pipe/bytes" in dom


def test_report_requests_nothing_from_the_network(report):
    text = report.read_text(encoding="utf-8")
    urls = re.findall(r'(?:src|href)\s*=\s*["\'](https?:[^"\']*)', text)
    assert urls == []
    result = _chromium("--dump-dom", report.as_uri())
    assert "ERR_NAME_NOT_RESOLVED" not in result.stderr
    assert not re.search(r'(?:src|href)="https?:', result.stdout)


def test_report_screenshot_is_drawn(report, tmp_path):
    shot = tmp_path / "report.png"
    _chromium("--hide-scrollbars", "--window-size=1400,3000", f"--screenshot={shot}",
              report.as_uri())
    assert shot.is_file() and shot.stat().st_size > 50_000
