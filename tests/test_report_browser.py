"""The HTML report in a real browser: Debian's chromium, headless, loading the file from disk.

Driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON messages separated
by NUL on fds 3 and 4), so nothing but the browser and the standard library is needed. The test
checks the rendered DOM (every table and figure), that every image decodes, and that the console
shows no error; it saves a screenshot next to the page (``report.png``; ``MOBILEDL_SCREENSHOT=DIR``
keeps them). The second test makes its page from real runs: several runs, --variant builds, a
journal and an emulated phone's conditions.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_report_analyses import PHONE, RECORDS, on, rec, variant

from pytest_mobiledl.emulator import Farm
from pytest_mobiledl.record import from_dict
from pytest_mobiledl.report import cli
from pytest_mobiledl.report.inputs import Run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

TABLES = ["runs", "fragmentation", "gap", "variants", "impact", "cold_warm", "memory", "stability", "conditions",
          "parity", "environment"]
PLOTS = ["heatmap", "distributions", "cold_start", "threads", "versions", "conditions"]


class DevTools:
    """A minimal DevTools client over chromium's debugging pipe."""

    def __init__(self, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def fds() -> None:  # the browser reads commands on fd 3 and writes replies on fd 4
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            # preexec_fn runs before close_fds would close 3 and 4 again: keep the child's fds open.
            close_fds=False, preexec_fn=fds,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result
            self.events.append(reply)

    def wait(self, method: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._read())
        raise TimeoutError(method)

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed its debugging pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        data: dict[str, Any] = json.loads(message)
        return data

    def close(self) -> None:
        try:
            self.send("Browser.close")
        finally:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            os.close(self._to_browser)
            os.close(self._from_browser)


CHECK = """(async () => {
  const images = [...document.images];
  const decoded = await Promise.all(images.map(i => i.decode().then(() => true, () => false)));
  return JSON.stringify({
    tables: [...document.querySelectorAll('section.table')].map(s => [s.id, s.querySelectorAll('tr').length]),
    plots: [...document.querySelectorAll('section.plot')].map(s => s.id),
    images: images.map((i, k) => [i.alt, decoded[k], i.naturalWidth, i.naturalHeight]),
    external: [...document.querySelectorAll('[src],link[href],script')].map(e => e.src || e.href || 'script')
      .filter(u => !u.startsWith('data:')),
    widths: JSON.stringify([...document.querySelectorAll('section.table td')].map(c => c.offsetWidth)),
  });
})()"""


def show(page: Path, shot: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Load the page in chromium: what CHECK finds, the browser's events; a full-page screenshot to ``shot``."""
    browser = DevTools(shot.parent / f"profile-{shot.stem}")
    try:
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session)
        browser.send("Emulation.setDeviceMetricsOverride", session, width=1400, height=1800, deviceScaleFactor=1,
                     mobile=False)
        browser.send("Page.navigate", session, url=page.as_uri())
        browser.wait("Page.loadEventFired")
        found = json.loads(browser.send("Runtime.evaluate", session, expression=CHECK, awaitPromise=True,
                                        returnByValue=True)["result"]["value"])
        height = browser.send("Runtime.evaluate", session, expression="document.body.scrollHeight",
                              returnByValue=True)["result"]["value"]
        browser.send("Emulation.setDeviceMetricsOverride", session, width=1400, height=min(height, 16000),
                     deviceScaleFactor=1, mobile=False)  # the whole page, to look at
        data = browser.send("Page.captureScreenshot", session, format="png")["data"]
        shot.write_bytes(base64.b64decode(data))
        keep = os.environ.get("MOBILEDL_SCREENSHOT")
        if keep:
            shutil.copy(shot, Path(keep) / shot.name if Path(keep).is_dir() else keep)
    finally:
        browser.close()
    return found, browser.events


def errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("method") == "Runtime.exceptionThrown"
            or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
            or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]


def test_the_page_renders_every_table_and_figure_in_chromium(tmp_path: Path) -> None:
    # Two runs, two versions of onnxruntime: every table and every plot has something to show.
    newer = rec("onnxruntime", [6.0, 7.0, 8.0], version="1.1", first_inference_ms=[9.0, 9.0, 9.0],
                load_ms=[1.0] * 3, init_ms=[5.0] * 3, peak_rss_mb=[70.0] * 3)
    phone = on(PHONE, rec("tflite", [4.0, 5.0, 6.25]), [(35.0, 44.0, 0.98, []), (38.0, 57.5, 0.62, ["throttled"]),
                                                       (46.0, 58.0, 0.60, ["hot_start", "throttled"])])
    builds = variant("mnn", "main", [3.0, 3.1, 2.9]) + variant("mnn", "pr", [3.3, 3.4, 3.2])
    runs = [Run("0001", tmp_path / "0001.json", tuple(RECORDS), "2026-12-01T10:00:00"),
            Run("0002", tmp_path / "0002.json", tuple(newer + rec("tflite", [4.0, 5.0, 6.25], threads=2) + phone),
                "2026-12-02T10:00:00"),
            Run("20261203T101010-4242", tmp_path / "20261203T101010-4242.jsonl", tuple(builds), "2026-12-03T10:00:00")]
    page = tmp_path / "report.html"
    cli.write_html(page, runs, cli.select(runs, [], [], []))

    found, events = show(page, tmp_path / "report.png")
    assert [name for name, _ in found["tables"]] == TABLES
    assert all(rows > 1 for _, rows in found["tables"]), found["tables"]  # a header and at least one row
    assert found["plots"] == [f"plot-{name}" for name in PLOTS]
    assert len(found["images"]) == len(PLOTS)
    assert all(ok and width > 100 and height > 100 for _, ok, width, height in found["images"]), found["images"]
    assert found["external"] == []
    assert errors(events) == []


BUILDS = ["--variant", f"onnxruntime@a={sys.executable}", "--variant", f"onnxruntime@b={sys.executable}"]


def test_a_report_of_several_runs_with_variants_and_a_journal_reads_well(
        bench_dir: pytest.Pytester, make_adb_farm: Callable[..., Farm]) -> None:
    # Real runs of tiny_cnn: a saved run with two builds of onnxruntime, an unsaved session on the host
    # and a heated emulated phone (its journal, named by session: a long label), and records of the
    # oldest schemas (a journal of bare records).
    run = ["-p", "no:cacheprovider", "--warmup=1", "--iterations=5", "--libs=onnxruntime,tflite", "--repeats=2"]
    bench_dir.runpytest_subprocess(*run, *BUILDS, "--benchmark-autosave").assert_outcomes(passed=6)
    farm = make_adb_farm(devices=1)
    farm.devices[0].sysfs.heat(55.0, seconds=600.0, trigger="taskset")
    journals = bench_dir.path / ".benchmarks" / "mobiledl-journal"
    first = set(journals.glob("*.jsonl"))
    bench_dir.runpytest_subprocess(*run, f"--devices=host,{farm.serials[0]}", f"--adb-server={farm.server}",
                                   "--cooldown-timeout=0").assert_outcomes(passed=8)
    [unsaved] = set(journals.glob("*.jsonl")) - first
    golden = Path(__file__).parent / "golden"
    old = bench_dir.path / "old.jsonl"
    old.write_text("".join(from_dict(json.loads((golden / f"record_v{v}.json").read_text())).with_(repeat=v)
                           .to_json() + "\n" for v in (1, 2)))
    [saved] = (bench_dir.path / ".benchmarks").rglob("0001_*.json")
    page = bench_dir.path / "report.html"
    done = subprocess.run([str(Path(sys.executable).with_name("mobiledl")), "report", str(saved), str(unsaved),
                           str(old), "--html", str(page)], capture_output=True, text=True, cwd=bench_dir.path)
    assert done.returncode == 0, done.stderr

    found, events = show(page, bench_dir.path / "several-runs.png")
    assert errors(events) == [] and found["external"] == []
    assert [name for name, _ in found["tables"]][:2] == ["runs", "fragmentation"]
    assert {"plot-heatmap", "plot-conditions"} <= set(found["plots"])
    assert all(ok for _, ok, _, _ in found["images"]), found["images"]
    widths = json.loads(found["widths"])
    assert max(widths) < 700, widths  # no cell as wide as a long run label made it (~230 characters)
    text = page.read_text()
    assert "onnxruntime@a" in text and "onnxruntime @r1" in text  # builds, and a library in two runs by its tag
    assert unsaved.stem not in text.split('id="runs"')[1].split("</section>")[1]  # the long label: in the legend only
