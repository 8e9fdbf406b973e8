import sys

from pytest_mobiledl.ops.run import main

sys.exit(main(sys.argv[1:]))
