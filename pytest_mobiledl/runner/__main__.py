"""``python -m pytest_mobiledl.runner``: one case (``--lib … --model …``, runner/measure.py), a
fork server (``--serve LIB``, runner/serve.py) or a whole lockstep block (``--block SPEC``,
runner/block.py).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:  # --serve LIB --parent PID [--without-library]
        from pytest_mobiledl.runner.serve import serve

        return serve(argv[1], int(argv[3]), library="--without-library" not in argv)
    if argv[:1] == ["--block"]:  # --block SPEC: run where the runners run
        from pytest_mobiledl.runner.block import block_main

        return block_main(argv[1])
    from pytest_mobiledl.runner.measure import main as case_main

    return case_main(argv)


def run() -> NoReturn:
    """``main`` as a process: its status, without the interpreter's teardown.

    Not ``sys.exit``: tearing the interpreter down (the library's session and thread pools, every
    module) takes a tenth of a second that a block waits for, and nothing after the record needs it.
    """
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
