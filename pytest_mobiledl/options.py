"""The plugin's options: declared once, settable on the command line or in ``[tool.pytest.ini_options]``.

Every value is parsed and checked when pytest configures; a bad one is a ``pytest.UsageError``
that names the option, the value and what would be valid.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_mobiledl import usermodels, variants
from pytest_mobiledl.record import BACKENDS, PRECISIONS
from pytest_mobiledl.usermodels import UserModel
from pytest_mobiledl.variants import Variant

ALL = "all"
#: Upper limits: a value past them would run for hours (or exhaust memory) before anything is said.
MAX_REPEATS = 1000
MAX_WARMUP = 10_000
MAX_ITERATIONS = 100_000
MAX_MIN_TIME_S = 3600


@dataclass(frozen=True)
class Selection:
    """What the user asked for, validated."""

    devices: tuple[str, ...]  # ("all",) until devices are discovered
    libs: tuple[str, ...]
    models: tuple[str, ...]
    backends: tuple[str, ...]
    precisions: tuple[str, ...]
    threads: tuple[int, ...]
    warmup: int
    iterations: int
    min_time: float
    runner_timeout: float
    model_cache: Path
    rebuild: bool
    #: --mobiledl-resume: continue the last unfinished session's journal.
    resume: bool
    #: Test only: an injected slowdown per library (``""`` for all): ``(amount, relative)``, where
    #: relative means a fraction of each run's own time (``10%``), else milliseconds.
    delay: Mapping[str, tuple[float, bool]]
    adb_server: tuple[tuple[str, int], ...]  # empty: adb's own default, and not an error if absent
    runner_dir: Path
    input_shape: tuple[tuple[str, tuple[int, ...]], ...]
    #: Fresh runner processes per case, interleaved round-robin across the cases of a device.
    repeats: int
    #: --mobiledl-compare-fail: fail where a slowdown is established and at least this many %.
    compare_fail: float | None
    #: --mobiledl-compare-strict: the gate also fails the items it cannot judge at its threshold.
    compare_strict: bool = False
    #: --mobiledl-lockstep: the cases of a block run as processes alive together, taking turns.
    lockstep: bool = True
    #: The user's own model files among ``models``, by id.
    user_models: Mapping[str, UserModel] = field(default_factory=dict)
    #: Host runs fork from a server that imported the library once (where that is safe).
    fork: bool = True
    #: Phones at a steady state (steady.py): which cores, how cool before a run, energy or not.
    cores: str = "big"
    cooldown_temp: float = 40.0
    cooldown_timeout: float = 120.0
    energy: bool = False
    #: --mobiledl-build-timeout: seconds one conversion or inspection of a model may take.
    build_timeout: float = 1800.0
    #: --mobiledl-report: where the session's HTML report goes ("" for none).
    report: str = ""
    #: --variant: builds of a library side by side; a library with variants runs only those.
    variants: tuple[Variant, ...] = ()
    #: Where the environments of pip variants are made and kept.
    env_cache: Path = field(default_factory=Path)
    #: --mobiledl-ops: profile each case's operators in a separate run (ops/).
    ops: bool = False


@dataclass(frozen=True)
class Option:
    name: str  # dest, and the ini key with a ``mobiledl_`` prefix
    default: str
    help: str
    parse: Callable[[str], Any]
    flag: str = ""  # default: --name-with-dashes
    switch: bool = False  # a flag without a value
    repeat: bool = False  # may be given several times; the values join with newlines (one per ini line)
    ini: str = ""  # the ini key without ``mobiledl_``, when it is not ``name`` (it follows the flag)

    @property
    def cli(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def ini_key(self) -> str:
        return f"mobiledl_{self.ini or self.name}"


def _choices(valid: Callable[[], list[str]]) -> Callable[[str], tuple[str, ...]]:
    def parse(value: str) -> tuple[str, ...]:
        items = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
        known = valid()
        if items == (ALL,):
            return tuple(known)
        unknown = [v for v in items if v not in known]
        if unknown or not items:
            raise ValueError(f"{', '.join(unknown) or 'nothing'} is not valid; choose from {ALL}, {', '.join(known)}")
        return items

    return parse


def _number(kind: type, low: float, strict: bool = False, high: float = math.inf, why: str = ""
            ) -> Callable[[str], Any]:
    """A finite number ≥ (or >) ``low`` and ≤ ``high``; ``why`` says what the upper limit protects."""

    def parse(value: str) -> Any:
        try:
            number = kind(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a{'n integer' if kind is int else ' number'}") from None
        if not math.isfinite(number):  # inf waits out every timeout; nan compares false with anything
            raise ValueError(f"{value} is not a finite number")
        if number < low or (strict and number == low):
            raise ValueError(f"{value} must be {'>' if strict else '≥'} {low:g}")
        if number > high:
            raise ValueError(f"{value} is above the limit of {high:g}{why}")
        return number

    return parse


def _threads(value: str) -> tuple[int, ...]:
    parse = _number(int, 1)
    threads = tuple(dict.fromkeys(parse(v.strip()) for v in value.split(",") if v.strip()))
    if not threads:
        raise ValueError("give one or more thread counts, e.g. 1,2,4")
    return threads


def _percent(value: str) -> float | None:
    if not value.strip():
        return None
    number = value.strip().removesuffix("%")
    try:
        pct = float(number)
    except ValueError:
        raise ValueError("give a slowdown in percent, e.g. 10%") from None
    if not (math.isfinite(pct) and pct >= 0):
        raise ValueError(f"{value} must be a finite percentage ≥ 0, e.g. 10%")
    return pct


def _delay(value: str) -> dict[str, tuple[float, bool]]:
    """``2`` (ms, every library), ``onnxruntime=0.5``, ``mnn=10%`` (of each run's own time), comma separated."""
    delays: dict[str, tuple[float, bool]] = {}
    for entry in filter(None, (v.strip() for v in value.split(","))):
        lib, _, amount = entry.rpartition("=")
        if lib and lib.partition("@")[0] not in _lib_ids():  # lib@label: one --variant's build
            raise ValueError(f"{lib} is not a library; choose from {', '.join(_lib_ids())}")
        relative = amount.endswith("%")
        number = _number(float, 0)(amount.removesuffix("%"))
        if not math.isfinite(number):
            raise ValueError(f"{amount} is not a finite delay")
        if number:
            delays[lib] = (number / 100 if relative else number, relative)
    return delays


def _devices(value: str) -> tuple[str, ...]:
    if not value.strip():
        return ("host",)  # the default, left empty so `-n auto` can tell it was not chosen
    serials = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if not serials or (ALL in serials and len(serials) > 1):
        raise ValueError(f"give {ALL}, host, or a comma list of adb serials")
    return serials


def _servers(value: str) -> tuple[tuple[str, int], ...]:
    from pytest_mobiledl.devices.adb import parse_servers

    return tuple(parse_servers(value)) if value.strip() else ()


def _models(value: str) -> tuple[str, ...]:
    """Zoo ids and the user's model files (checked for existence here, inspected later)."""
    files = tuple(v.strip() for v in value.split(",") if usermodels.is_file_ref(v.strip()))
    for name in files:
        path = Path(name).expanduser()
        if usermodels.is_saved_model(path):
            continue
        if not path.is_file():
            raise ValueError(f"no model file {name}")
        try:
            path.open("rb").close()
        except OSError as exc:
            raise ValueError(f"cannot read {name}: {exc.strerror}") from None
    rest = ",".join(v for v in value.split(",") if v.strip() and v.strip() not in files)
    if not files and not rest:
        raise ValueError(f"give zoo models, {ALL}, or model files ({', '.join(usermodels.SUFFIXES)}), comma separated")
    for name in (v.strip() for v in rest.split(",") if v.strip()):
        if name in _model_ids() or Path(name).expanduser().is_dir():
            continue
        if Path(name).suffix:
            raise ValueError(f"{name}: {Path(name).suffix} is not a model format pytest-mobiledl reads; "
                             f"give {', '.join(usermodels.SUFFIXES)} files or a SavedModel folder")
        if "/" in name:
            raise ValueError(f"no model file or SavedModel folder {name}")
    folders = [v.strip() for v in rest.split(",")
               if v.strip() and v.strip() not in _model_ids() and Path(v.strip()).expanduser().is_dir()]
    if folders:
        raise ValueError(f"{folders[0]} is a folder without saved_model.pb: not a TensorFlow SavedModel")
    zoo = _choices(_model_ids)(rest) if rest else ()
    return tuple(dict.fromkeys((*zoo, *files)))


def _cores(value: str) -> str:
    from pytest_mobiledl.cores import parse_cores

    return parse_cores(value)


def _lib_ids() -> list[str]:
    from pytest_mobiledl.engines import LIBS

    return list(LIBS)


def _model_ids() -> list[str]:
    from pytest_mobiledl.zoo import names

    return names()


def _switch(value: str) -> bool:
    """A switch's value: set on the command line (pytest stores True) or in an ini file."""
    return value.lower() in ("1", "true", "yes")


def _yes_no(value: str) -> bool:
    if value.lower() not in ("yes", "no"):
        raise ValueError("expected yes or no")
    return value.lower() == "yes"


def default_cache() -> str:
    from platformdirs import user_cache_dir

    return str(Path(user_cache_dir("pytest-mobiledl")) / "models")


OPTIONS = (
    Option("devices", "", "where to run: all (host + every adb device), host (default), or adb serials", _devices),
    Option("libs", ALL, "libraries, comma separated, or all", _choices(_lib_ids)),
    Option("models", "mobilenet_v2", "zoo models, all, or your own model files ("
           + ", ".join(usermodels.SUFFIXES) + " or SavedModel folders), comma separated", _models),
    Option("input_shape", "", "pin a dynamic input of your model files: name=1,3,224,224 (repeat per input)",
           lambda v: usermodels.parse_pins(v.split()), repeat=True),
    Option("backends", "cpu", "backends: all or some of " + ", ".join(BACKENDS), _choices(lambda: list(BACKENDS))),
    Option("precisions", "fp32", "precisions: all or some of " + ", ".join(PRECISIONS),
           _choices(lambda: list(PRECISIONS))),
    Option("threads", "1", "thread counts, comma separated", _threads),
    Option("warmup", "10", f"untimed runs before timing (at most {MAX_WARMUP})",
           _number(int, 0, high=MAX_WARMUP, why=": more warm-up settles nothing more")),
    Option("iterations", "50", f"timed runs (at least; at most {MAX_ITERATIONS})",
           _number(int, 1, high=MAX_ITERATIONS, why=": raise --repeats instead (they narrow the CI, see README)")),
    Option("min_time", "0", "seconds: keep timing until both --iterations and this are reached (below "
           "--runner-timeout)", _number(float, 0, high=MAX_MIN_TIME_S, why=" s (an hour per repeat)")),
    Option("runner_timeout", "600", "seconds before one item's runner is killed", _number(float, 0, strict=True)),
    Option("build_timeout", "1800", "seconds before converting or inspecting one model is stopped (a .py "
           "model whose build() never returns)", _number(float, 0, strict=True), flag="--mobiledl-build-timeout"),
    Option("model_cache", "", "where converted models are cached (default: the user cache dir)", str),
    Option("adb_server", "", "adb servers to find devices on, host:port[,host:port…] (default: adb's own, "
           "from ANDROID_ADB_SERVER_PORT or 127.0.0.1:5037)", _servers),
    Option("runner_dir", "~/mobiledl-runners", "where the libraries' own Android benchmark tools are "
           "(<dir>/<lib>/…, see native_runners/)", lambda v: Path(v).expanduser()),
    Option("resume", "false", "continue the last unfinished session with the same selection: run only the "
           "items that did not pass (see the journal in .benchmarks/mobiledl-journal/)",
           _switch, flag="--mobiledl-resume", switch=True),
    Option("rebuild", "false", "convert models again even when cached", _switch,
           flag="--mobiledl-rebuild", switch=True),
    Option("cores", "big", "cores that run the model: big, little, all, or a cpu list such as 4-7 (a device "
           "without them, or more --threads than cores, is a skip)", _cores),
    # Phones idle at 25-35 °C on their CPU zones in a room; sustained inference takes them to 45-60 °C,
    # where the first cpufreq trip points sit: 40 is above idle (a cool phone never waits) and below those.
    Option("cooldown_temp", "40", "°C: before each run on a phone, wait until its CPU zones are at or below this",
           _number(float, 0, strict=True)),
    Option("cooldown_timeout", "120", "seconds to wait for --cooldown-temp; then the run goes on, flagged "
           "hot_start (0: never wait)", _number(float, 0)),
    Option("energy", "false", "sample battery current and voltage on phones: millijoules per inference",
           _switch, switch=True),
    Option("repeats", "5", "fresh runner processes per case, interleaved across the cases of a device; "
           f"the unit of the confidence intervals (at most {MAX_REPEATS})",
           _number(int, 1, high=MAX_REPEATS, why=" (each repeat is an item of every case)")),
    Option("compare_fail", "", "with --benchmark-compare or --variant: fail where a slowdown is "
           "statistically established and at least this large, e.g. 10%", _percent, flag="--mobiledl-compare-fail"),
    Option("lockstep", "yes", "yes = the cases of one fragmentation row and repeat run together, their timed runs "
           "taking turns (paired verdicts, docs/statistics.md); no = one case after another", _yes_no,
           flag="--mobiledl-lockstep"),
    Option("compare_strict", "false", "with --mobiledl-compare-fail: also fail every item whose CI is too wide to "
           "rule out a slowdown of the threshold (the gate never passes what it could not see)",
           _switch, flag="--mobiledl-compare-strict", switch=True),
    Option("report", "", "write this session's HTML report (tables and plots, one self-contained file) to FILE",
           str, flag="--mobiledl-report"),
    Option("variants", "", "a build of a library beside the default, LIB@LABEL=SPEC (repeat; ini: one per line): "
           "SPEC is a pip requirement or wheel (an environment made once), a Python interpreter, or a folder "
           "holding the library's Android tool", lambda v: variants.parse(v, _lib_ids()), flag="--variant",
           repeat=True),
    Option("env_cache", "", "where --variant environments are made and kept (default: the user cache dir)", str,
           flag="--mobiledl-env-cache"),
    Option("delay", "0", "test only: a slowdown added to every timed run: milliseconds, LIB[@LABEL]=ms or LIB=P% of "
           "each run, comma separated", _delay, flag="--mobiledl-delay-ms", ini="delay_ms"),
    Option("fork", "yes", "host runs: yes = fork each run from a server that imported the library once "
           "(where its import leaves no thread behind), no = exec a fresh interpreter per run", _yes_no,
           flag="--mobiledl-fork"),
    Option("ops", "false", "also profile each case's operators with its library's own profiler, in a separate "
           "run after the latency runs (tests using the mobiledl_ops fixture, e.g. benchmarks/test_ops.py)",
           _switch, flag="--mobiledl-ops", switch=True),
)


def add(parser: pytest.Parser) -> None:
    group = parser.getgroup("mobiledl", "mobile deep-learning benchmarks (pytest-mobiledl)")
    for option in OPTIONS:
        help_text = option.help.replace("%", "%%")  # argparse formats help with %
        if option.switch:
            group.addoption(option.cli, action="store_const", const="true", dest=option.name, help=help_text)
        elif option.repeat:
            group.addoption(option.cli, action="append", dest=option.name, metavar=option.name.upper(),
                            help=help_text)
        else:
            group.addoption(option.cli, dest=option.name, metavar=option.name.upper(),
                            help=help_text + (f" (default: {option.default})" if option.default else ""))
        parser.addini(option.ini_key, option.help, default=option.default)


def resolve(config: pytest.Config) -> Selection:
    values: dict[str, Any] = {}
    for option in OPTIONS:
        raw = config.getoption(option.name)
        raw = "\n".join(raw) if isinstance(raw, list) else raw
        source = option.cli
        if raw is None:
            raw, source = config.getini(option.ini_key), f"ini option {option.ini_key}"
        try:
            values[option.name] = option.parse(str(raw))
        except ValueError as exc:
            raise pytest.UsageError(f"pytest-mobiledl: {source}={raw}: {exc}") from None
    values["model_cache"] = Path(values["model_cache"] or default_cache()).expanduser()
    for name, check in (("model_cache", writable_folder), ("runner_dir", _folder_or_nothing)):
        problem = check(values[name])
        if problem:
            option = named(name)
            raise pytest.UsageError(f"pytest-mobiledl: {option.cli}={values[name]}: {problem}")
    if values["min_time"] >= values["runner_timeout"]:
        raise pytest.UsageError(f"pytest-mobiledl: --min-time={values['min_time']:g}: every run would be killed "
                                f"first: it must be below --runner-timeout ({values['runner_timeout']:g} s)")
    for problem in (_report_problem(values["report"]), _storage_problem(config)):
        if problem:
            raise pytest.UsageError(f"pytest-mobiledl: {problem}")
    values["env_cache"] = Path(values["env_cache"]).expanduser() if values["env_cache"] else _env_cache()
    _check_variants(values["variants"], values["libs"])
    for variant in values["variants"]:  # an interpreter the user gave: checked once, before anything runs
        if variant.kind == "python":
            problem = variants.check_python(variant)
            if problem:
                raise pytest.UsageError(f"pytest-mobiledl: --variant {variant.name}={variant.spec}: {problem}")
    values["models"], values["user_models"] = _user_models(values["models"], values["input_shape"],
                                                           values["build_timeout"])
    return Selection(**values)


def named(name: str) -> Option:
    """The option declared as ``name``: its flag, help and parser (the ``mobiledl`` commands reuse them)."""
    return next(o for o in OPTIONS if o.name == name)


def add_to(parser: argparse.ArgumentParser, name: str, default: str | None, required: bool = False) -> None:
    """Declare option ``name`` on a ``mobiledl`` command's parser: the plugin's flag and help, its own default."""
    option = named(name)
    parser.add_argument(option.cli, dest=name, default=default, required=required, metavar=name.upper(),
                        action="append" if option.repeat else "store", help=option.help.replace("%", "%%"))


def parse_one(name: str, raw: str | list[str] | None) -> Any:
    """A command's value of option ``name`` through its parser: the plugin's checks and words, named by its flag."""
    option = named(name)
    try:
        return option.parse("\n".join(raw or ()) if option.repeat else str(raw))
    except ValueError as exc:
        raise ValueError(f"{option.cli}: {exc}") from None


def value(config: pytest.Config, name: str) -> Any:
    """One option's parsed value, without resolving (and checking) the whole selection."""
    option = named(name)
    raw = config.getoption(option.name)
    raw = "\n".join(raw) if isinstance(raw, list) else raw
    return option.parse(str(config.getini(option.ini_key) if raw is None else raw))


def writable_folder(path: Path) -> str | None:
    """Why converted models cannot be cached there, or None. Tried, not judged from mode bits:
    root passes any permission check, and a read-only mount fails only on write."""
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not existing.is_dir():
        return f"{existing} is a file, not a folder; give a folder for converted models"
    try:
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as exc:
        return f"{existing} is not writable ({exc.strerror}); give a folder you can write, e.g. under /tmp"
    return None


def _report_problem(report: str) -> str | None:
    """Why --mobiledl-report cannot be written, found now rather than after the session."""
    if not report:
        return None
    path = Path(report).expanduser()
    if path.is_dir():
        return (f"--mobiledl-report={report}: is a folder; give the HTML file to write, "
                f"e.g. {report.rstrip('/')}/report.html")
    problem = writable_folder(path.parent)
    return f"--mobiledl-report={report}: {problem.replace('converted models', 'the report')}" if problem else None


def _storage_problem(config: pytest.Config) -> str | None:
    """pytest-benchmark's file storage must be a folder it (and the journal beside it) can write."""
    storage = config.getoption("benchmark_storage", None)
    if not storage or not str(storage).startswith("file://"):
        return None
    path = Path(str(storage).removeprefix("file://")).expanduser()
    problem = writable_folder(path)
    if problem:
        return f"--benchmark-storage={storage}: {problem.replace('converted models', 'saved runs')}"
    return None


def _folder_or_nothing(path: Path) -> str | None:
    if path.exists() and not path.is_dir():
        return "is a file; give the folder that holds one folder per library (<dir>/<lib>/…)"
    return None
def _env_cache() -> Path:
    from pytest_mobiledl.envs import default_cache as envs_cache

    return envs_cache()


def _check_variants(given: tuple[Variant, ...], libs: tuple[str, ...]) -> None:
    unselected = [v.name for v in given if v.lib not in libs]
    if unselected:
        raise pytest.UsageError(f"pytest-mobiledl: --variant {', '.join(unselected)}: the library is not selected; "
                                f"add it to --libs (now: {', '.join(libs)})")


def _user_models(models: tuple[str, ...], pins: tuple[tuple[str, tuple[int, ...]], ...], timeout: float
                 ) -> tuple[tuple[str, ...], dict[str, UserModel]]:
    """Model files become ids (``my_net.onnx`` → ``my_net``) beside the zoo's."""
    ids, files = [], {}
    for entry in models:
        if not usermodels.is_file_ref(entry):
            ids.append(entry)
            continue
        path = Path(entry).expanduser().resolve()
        model_id = usermodels.model_id(path)
        if model_id in ids or model_id in files:
            raise pytest.UsageError(f"pytest-mobiledl: --models: {entry} would be named {model_id!r}, "
                                    "which is taken; rename the file")
        files[model_id] = UserModel(model_id, path, pins, timeout)
        ids.append(model_id)
    return tuple(ids), files
