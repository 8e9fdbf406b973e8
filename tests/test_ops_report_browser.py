"""The op tables in the HTML report, in a real browser (chromium over its DevTools pipe)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_report_analyses import RECORDS
from test_report_browser import CHECK, CHROMIUM, DevTools

from pytest_mobiledl.ops.profile import OpProfile, op
from pytest_mobiledl.report import cli
from pytest_mobiledl.report.inputs import Run

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
OP_TABLES = ["op_classes", "op_differ", "op_projection", "op_coverage", "op_changes"]


def _profiles(pool_ms: float, version: str) -> tuple[OpProfile, ...]:
    def one(lib: str, conv: float, latency: float) -> OpProfile:
        return OpProfile(lib, version, "mobilenet_v2", "cpu", "fp32", 1, "test", 5, latency,
                         ops=(op("c", "Conv", conv), op("d", "DEPTHWISE_CONV_2D", 1.0), op("p", "MEAN", pool_ms)),
                         device={"serial": "host"})
    return (one("onnxruntime", 6.0, 7.5), one("mnn", 5.0, 6.5 + pool_ms))


def test_op_tables_render_in_chromium(tmp_path: Path) -> None:
    runs = [Run("0001", tmp_path / "0001.json", tuple(RECORDS), "2026-12-01T10:00:00", profiles=_profiles(0.5, "1")),
            Run("0002", tmp_path / "0002.json", tuple(RECORDS), "2026-12-02T10:00:00",
                profiles=_profiles(2.0, "2"))]
    page = tmp_path / "report.html"
    cli.write_html(page, runs, cli.select(runs, [], [], []))
    browser = DevTools(tmp_path / "profile")
    try:
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session)
        browser.send("Page.navigate", session, url=page.as_uri())
        browser.wait("Page.loadEventFired")
        found = json.loads(browser.send("Runtime.evaluate", session, expression=CHECK, awaitPromise=True,
                                        returnByValue=True)["result"]["value"])
        text = browser.send("Runtime.evaluate", session, expression="document.body.innerText",
                            returnByValue=True)["result"]["value"]
    finally:
        browser.close()
    tables = dict(found["tables"])
    assert all(tables.get(name, 0) > 1 for name in OP_TABLES), found["tables"]
    assert "layouts" in text and "Which op class changed" in text  # the projection's caveats, the changes
    assert found["external"] == []
