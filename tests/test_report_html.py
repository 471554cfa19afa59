"""The HTML report opens offline in a real browser (headless Chromium), draws its plots and logs
no console error; a screenshot is kept for a person to look at.

Chromium is driven over the DevTools protocol with a minimal client (websocket-client): load
the file, collect console errors and exceptions, count the plot elements, take a screenshot.
The report comes from a real shadow database (`dbsynth run` on Chinook, SQLite to SQLite) with
`--tstr` and a `--fail-under` gate, so every section is populated.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

websocket = pytest.importorskip("websocket", reason="websocket-client is in the dev extra")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
SCREENSHOT_DIR = Path(os.environ.get("DBSYNTH_SCREENSHOT_DIR", tempfile.gettempdir()))


def dbsynth(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dbsynth.cli", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory, datasets_dir) -> Path:
    """A verify report of a real Chinook shadow database, every section populated."""
    work = tmp_path_factory.mktemp("html")
    source = work / "chinook.sqlite"
    shutil.copyfile(datasets_dir / "chinook" / "Chinook_Sqlite.sqlite", source)
    target = work / "shadow.sqlite"
    run = dbsynth("run", f"sqlite:///{source}", f"sqlite:///{target}", "--epsilon", "2", "--seed", "1")
    assert run.returncode == 0, run.stderr
    out = work / "report"
    # Limits of 1 on distances bounded by 1: the gate section is drawn, whatever the shadow's quality.
    res = dbsynth("verify", f"sqlite:///{source}", f"sqlite:///{target}", "--report", str(out),
                  "--tstr", "Invoice.BillingCountry", "--fail-under", "tvd1=1.0,degree_ks=1.0", "--json")
    assert res.returncode == 0, res.stderr
    return out


class DevTools:
    """Just enough of the Chrome DevTools protocol: send a command, wait for its answer, and
    keep every event that arrives meanwhile."""

    def __init__(self, url: str):
        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                assert "error" not in msg, msg
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self.events):
            assert time.monotonic() < deadline, f"no {event} within {timeout}s"
            self.events.append(json.loads(self.ws.recv()))

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]["value"]

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def browser(tmp_path):
    """A headless Chromium with remote debugging on a free port; the DevTools page client."""
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (apt-get install -y chromium)", pytrace=False)
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--remote-debugging-port=0",
         "--window-size=1200,2000", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and port_file.read_text().strip()):
            assert proc.poll() is None, "chromium exited"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        import urllib.request

        pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(p for p in pages if p.get("type") == "page")
        tools = DevTools(page["webSocketDebuggerUrl"])
        yield tools
        tools.close()
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def console_errors(events: list[dict]) -> list[dict]:
    errors = []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.exceptionThrown" or (m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert")):
            errors.append(e)
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            errors.append(e)
    return errors


def test_report_files_are_written_and_say_what_was_read(report_dir):
    data = json.loads((report_dir / "report.json").read_text())
    assert data["passed"] is True and [g["key"] for g in data["gate"]] == ["tvd1", "degree_ks"]
    assert {r["what"] for r in data["real_data_read"]} >= {"schema", "table rows", "joined rows", "aggregate queries"}
    assert data["privacy_sanity"]["part_of_dp_guarantee"] is False
    md = (report_dir / "report.md").read_text()
    assert "What was read from the real data" in md and "NOT part of the DP guarantee" in md
    html = (report_dir / "report.html").read_text()
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in html
    assert "<script" not in html


def test_html_report_renders_its_plots_in_headless_chromium_without_console_errors(report_dir, browser):
    page = (report_dir / "report.html").resolve()
    for domain in ("Page", "Runtime", "Log"):
        browser.call(f"{domain}.enable")
    browser.call("Page.navigate", url=page.as_uri())
    browser.wait_for("Page.loadEventFired")
    counts = browser.evaluate("""({
        svg: document.querySelectorAll('svg').length,
        marginal: document.querySelectorAll('figure.chart-marginal svg rect.bar').length,
        degree: document.querySelectorAll('figure.chart-degree').length,
        error: document.querySelectorAll('figure.chart-error').length,
        dcr: document.querySelectorAll('figure.chart-dcr').length,
        tstr: document.querySelectorAll('figure.chart-tstr').length,
        sections: [...document.querySelectorAll('section[id]')].map(s => s.id),
        width: document.querySelector('figure.chart-marginal svg').getBoundingClientRect().width,
        title: document.title,
    })""")
    assert counts["title"] == "dbsynth verify report"
    assert counts["svg"] >= 20 and counts["marginal"] >= 20 and counts["width"] > 300
    assert counts["degree"] == 11  # one histogram per Chinook foreign key
    assert counts["error"] == 2 and counts["dcr"] >= 1 and counts["tstr"] == 1
    assert {"reads", "checks", "ledger", "fidelity", "joins", "degrees", "workload", "tstr", "privacy"} <= set(counts["sections"])

    height = browser.evaluate("document.documentElement.scrollHeight")
    shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                        clip={"x": 0, "y": 0, "width": 1200, "height": min(height, 6000), "scale": 1})
    png = base64.b64decode(shot["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    (SCREENSHOT_DIR / "dbsynth-verify-report.png").write_bytes(png)
    assert console_errors(browser.events) == [], console_errors(browser.events)
