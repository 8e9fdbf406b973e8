"""``python -m pytest_mobiledl models [list|build]``: see cli.py."""

import sys

from pytest_mobiledl.cli import main

sys.exit(main())
