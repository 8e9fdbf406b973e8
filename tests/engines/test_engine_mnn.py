"""MNN's conversion must stay offline: its Python tools log usage to a remote endpoint and pip-install
a package at import time (LIBRARIES.md, hazard 2). The engine calls the C++ converter directly."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

#: Runs a real conversion in a fresh process under an audit hook that refuses (and records) any
#: network use or process launch, whether or not the library swallows the error.
CHILD = r"""
import json, sys

EVENTS = ("socket.", "urllib.Request", "http.client.", "os.system", "subprocess.Popen", "os.exec", "os.posix_spawn")
seen = []

def hook(event, args):
    if event.startswith(EVENTS):
        seen.append(f"{event} {args!r}"[:300])
        raise PermissionError(f"blocked by the offline test: {event}")

sys.addaudithook(hook)
from pytest_mobiledl import conversion

status = conversion.main(["convert", "tiny_cnn", "mnn", sys.argv[1], sys.argv[2]])
loaded = sorted(m for m in sys.modules if m.startswith(("MNN.tools", "aliyun")))
with open(sys.argv[3], "w") as f:
    json.dump({"status": status, "events": seen, "loaded": loaded}, f)
"""


def test_conversion_opens_no_connection(require: Callable[[str], None], tmp_path: Path) -> None:
    require("mnn")
    out, report = tmp_path / "model.mnn", tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-c", CHILD, "fp32", str(out), str(report)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(report.read_text())
    assert result["events"] == []
    assert result["loaded"] == []  # MNN.tools imports the usage logger
    assert result["status"] == 0, done.stderr[-2000:]
    assert out.stat().st_size > 0
