"""``--variant LIB@LABEL=SPEC``: builds of one library side by side in one session.

A variant is part of a case: its items run the case's one artifact (converted once by the
default environment) under another build of the library, and the id carries the label
(``host-onnxruntime@old-mobilenet_v2-cpu-fp32-t1``), never the version: the version that ran is
in the record. SPEC is one of

- a pip requirement (``onnxruntime==1.24.4``) or a local wheel: an environment made once and
  cached (``envs.py``); later sessions need no network;
- a Python interpreter: an environment the user made (a development build), used as it is;
- a folder holding the library's Android tool: stands in for ``--runner-dir/<lib>`` on phones.

Parsing only checks what can be checked without side effects; ``prepare`` makes environments.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pytest_mobiledl.errors import MobiledlError
from pytest_mobiledl.keys import build_name

USAGE = ("give LIB@LABEL=SPEC, where SPEC is a pip requirement (onnxruntime==1.24.4), a wheel, "
         "a Python interpreter or a folder holding the library's Android tool")
_ENTRY = re.compile(r"(?P<lib>[a-z0-9_]+)@(?P<label>[A-Za-z0-9._-]+)=(?P<spec>\S+)")


@dataclass(frozen=True)
class Variant:
    lib: str
    label: str
    spec: str
    #: ``pip`` (requirement or wheel), ``python`` (an interpreter) or ``tool`` (an Android tool folder).
    kind: str
    #: The interpreter that runs this build: the user's, or the cached environment's once prepared.
    python: Path | None = None
    #: The folder standing in for ``--runner-dir/<lib>``.
    tool_dir: Path | None = None

    @property
    def name(self) -> str:
        return build_name(self.lib, self.label)


def parse(value: str, libs: Sequence[str]) -> tuple[Variant, ...]:
    """``LIB@LABEL=SPEC`` entries, one per line (one per ``--variant``; one per line in the ini file)."""
    found: dict[str, Variant] = {}
    for line in filter(None, (v.strip() for v in value.splitlines())):
        words = line.split()
        if len(words) > 1 and not all(_ENTRY.fullmatch(w) for w in words):
            # "onnxruntime@x=not a requirement!!": one entry with spaces, not four entries
            raise ValueError(f"{line!r} is not a variant: SPEC holds spaces; {USAGE}")
        for entry in words:
            found = _add(found, entry, libs)
    return tuple(found.values())


def _add(found: dict[str, Variant], entry: str, libs: Sequence[str]) -> dict[str, Variant]:
    match = _ENTRY.fullmatch(entry)
    if not match:
        raise ValueError(f"{entry!r} is not a variant; {USAGE}")
    lib, label, spec = match["lib"], match["label"], match["spec"]
    if lib not in libs:
        raise ValueError(f"{lib} is not a library; choose from {', '.join(libs)}")
    variant = _classify(lib, label, spec)
    if variant.name in found:
        raise ValueError(f"{variant.name} is given twice; give each label once")
    found[variant.name] = variant
    return found


def _classify(lib: str, label: str, spec: str) -> Variant:
    path = Path(spec).expanduser()
    if path.is_dir():
        return Variant(lib, label, spec, "tool", tool_dir=path.resolve())
    if path.is_file() and path.suffix == ".whl":
        return Variant(lib, label, str(path.resolve()), "pip")
    if path.is_file():
        if not os.access(path, os.X_OK):
            raise ValueError(f"{spec} is a file but neither an executable Python interpreter nor a .whl")
        return Variant(lib, label, spec, "python", python=path.absolute())  # a venv's python is a symlink: keep it
    if "/" in spec or spec.startswith(("~", ".")):
        raise ValueError(f"no file or folder {spec}; {USAGE}")
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        Requirement(spec)
    except InvalidRequirement as exc:
        raise ValueError(f"{spec!r} is not a pip requirement ({exc}); {USAGE}") from None
    return Variant(lib, label, spec, "pip")


def prepare(variants: Sequence[Variant], cache: Path, say: Callable[[str], None]) -> tuple[Variant, ...]:
    """Every pip variant with the interpreter of its cached environment (made here if new)."""
    from pytest_mobiledl import envs

    ready = []
    for variant in variants:
        if variant.kind == "pip":
            try:
                variant = replace(variant, python=envs.ensure(variant.spec, cache, say))
            except MobiledlError as exc:
                raise MobiledlError(f"{variant.name}: {exc}") from None
            problem = check_python(variant)
            if problem:
                raise MobiledlError(f"{variant.name}: the environment's {variant.python} {problem}")
        ready.append(variant)
    return tuple(ready)


#: What a variant's interpreter must run: itself, the library and numpy (all the zipapp runner imports).
_PROBE = ("import sys, importlib, numpy; m = importlib.import_module(sys.argv[1]); "
          "print('mobiledl-probe', getattr(m, '__version__', '?'))")
CHECK_TIMEOUT_S = 120


def check_python(variant: Variant) -> str | None:
    """Why ``variant.python`` cannot run the runner (one line), or None. Run once, before anything runs:
    a shell script or a text file would otherwise fail every item of the session."""
    import subprocess

    from pytest_mobiledl import engines

    module = engines.get(variant.lib).MODULE
    try:
        done = subprocess.run([str(variant.python), "-c", _PROBE, module], capture_output=True, text=True,
                              timeout=CHECK_TIMEOUT_S, check=False, stdin=subprocess.DEVNULL)
    except OSError as exc:
        return f"cannot be run ({exc.strerror}); give a Python interpreter (e.g. a venv's bin/python)"
    except subprocess.TimeoutExpired:
        return f"did not answer within {CHECK_TIMEOUT_S} s; give a Python interpreter"
    if done.returncode == 0 and "mobiledl-probe" in done.stdout:
        return None
    said = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    if any("ModuleNotFoundError" in line or "ImportError" in line for line in said):
        missing = next(line for line in reversed(said) if "Error" in line)
        return f"this Python cannot import the runner's needs ({missing}); install {module} and numpy into it"
    return (f"is not a Python interpreter that runs the runner (exit {done.returncode}"
            f"{': ' + said[-1][:200] if said else ''}); give a Python interpreter (e.g. a venv's bin/python)")


def find(variants: Sequence[Variant], lib: str, label: str) -> Variant:
    for variant in variants:
        if (variant.lib, variant.label) == (lib, label):
            return variant
    raise KeyError(build_name(lib, label))


def labels(variants: Sequence[Variant], lib: str) -> tuple[str, ...]:
    """The labels of a library's variants in the order given, or ``("",)``: the default build only."""
    return tuple(v.label for v in variants if v.lib == lib) or ("",)
