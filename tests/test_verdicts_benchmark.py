"""benchmarks/verdicts.py in its quick mode: the measurement of issue 16 cannot rot unseen."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "verdicts.py"


@pytest.mark.slow
def test_the_quick_mode_runs_every_session_and_reports_every_figure(tmp_path: Path, model_cache: Path) -> None:
    env = {**os.environ, "PYTEST_ADDOPTS": f"-o mobiledl_model_cache={model_cache}"}
    done = subprocess.run([sys.executable, str(SCRIPT), "quick", str(tmp_path / "out")], capture_output=True,
                          text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    for session in ("a01", "b01", "s01", "a02", "s02", "vaa", "vb10", "vb05"):
        assert re.search(rf"^{session}: exit 0 in \d+ s$", out, re.M), out
    for section in ("## fragmentation", "## across sessions", "## variants (A/B)"):
        assert section in out
    # Sane figures, not speeds: counts out of the comparisons made, half-widths that are numbers.
    assert re.search(r"\| A/A flagged at 10 %\s+\| \d+/4 \(", out), out  # 2 ordered pairs × 2 items
    assert re.search(r"\| median half-width of runner-up ÷ winner %\s+\| [\d.]+ ", out), out
    assert "wall seconds per item (repeat): lockstep" in out
