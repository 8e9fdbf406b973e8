"""SNPE (Qualcomm): Android binaries only, from a licensed SDK that no package registry serves.

It appears in the matrix so a team sees it, skipped with the reason; its Android tool
(``snpe-net-run``) has a spec and parser in ``native/snpe.py`` for models converted with the
SDK's own tools outside this plugin.
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

LIB = "snpe"
MODULE = ""  # no Python runtime
DIST = "snpe"
EXTRA = ""
SUFFIX = ".dlc"
PRECISIONS = ("fp32", "fp16", "int8")
UNAVAILABLE = ("snpe has no conversion route here: its converters (snpe-onnx-to-dlc, …) ship only in "
               "Qualcomm's licensed SDK; it runs on phones only (native_runners/snpe)")
