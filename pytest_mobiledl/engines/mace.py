"""MACE (Xiaomi): Android binaries only, and a converter that no package registry serves.

It appears in the matrix so a team sees it, skipped with the reason; its Android tool
(``mace_run``) has a spec and parser in ``native/mace.py`` for models converted with MACE's own
tools outside this plugin.
"""

from pytest_mobiledl.engines.phone_only import (  # noqa: F401 - the Engine interface
    CONVERTERS,
    FLAGS,
    HOST_BACKENDS,
    RUNTIME,
    convert,
    engine_options,
    open_session,
)

LIB = "mace"
MODULE = ""  # no Python runtime
DIST = "mace"
EXTRA = ""
SUFFIX = ".pb"
PRECISIONS = ("fp32", "fp16", "int8")
UNAVAILABLE = ("mace has no conversion route here: its converter (tools/converter.py in the MACE repository, "
               "TensorFlow 1.x era) is not on any package registry; it runs on phones only (native_runners/mace)")
