"""``python -m pytest_mobiledl models [list|build]`` and ``… report PATH...`` (also the ``mobiledl`` command).

``list``: every zoo model with its domain, inputs, parameters and MACs (computed from the model),
and per library and precision whether its artifact is built, its size, how long conversion and
parity took, and the parity verdict.
``build``: convert ahead of time, with a progress bar, so a benchmark session converts nothing.
``--models`` also takes the user's model files (``.onnx``, ``.tflite``, ``.py``, ``.pt2``,
``.keras``, ``.h5``, SavedModel folders): ``list`` then shows, per library, the route it takes
from the file's format or why it has none (``routes.py``), and ``build`` converts along them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pytest_mobiledl import engines, options, recommend, usermodels, zoo
from pytest_mobiledl import routes as _routes
from pytest_mobiledl.errors import ConversionError, MobiledlError
from pytest_mobiledl.report import cli as report_cli
from pytest_mobiledl.usermodels import UserModel

#: The models command's options, declared and parsed by options.py as the plugin's are, with
#: this command's defaults (every zoo model).
MODELS_OPTIONS = {"models": "all", "input_shape": None, "libs": "all", "precisions": "fp32", "model_cache": ""}


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pytest_mobiledl", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    models = sub.add_parser("models", help="list or build the zoo's models")
    models.add_argument("action", nargs="?", choices=("list", "build"), default="list")
    for name, default in MODELS_OPTIONS.items():
        options.add_to(models, name, default)
    models.add_argument("--rebuild", action="store_true", help=options.named("rebuild").help)
    report_cli.add_parser(sub)
    recommend.add_parser(sub)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "report":
        return report_cli.run(args)
    if args.command == "recommend":
        return recommend.run(args)
    try:
        chosen = {name: options.parse_one(name, getattr(args, name)) for name in MODELS_OPTIONS}
        files = _files([e for e in chosen["models"] if usermodels.is_file_ref(e)], chosen["input_shape"])
        models = [e for e in chosen["models"] if not usermodels.is_file_ref(e)]
        libs = [lib for lib in chosen["libs"] if engines.installed(engines.get(lib))]
        precisions = list(chosen["precisions"])
    except ValueError as exc:
        print(f"mobiledl: {exc}", file=sys.stderr)
        return 2
    cache = Path(chosen["model_cache"] or options.default_cache()).expanduser()
    problem = options.writable_folder(cache)
    if problem:
        print(f"mobiledl: --model-cache={cache}: {problem}", file=sys.stderr)
        return 2
    jobs = [(m, lib, p) for m in [*models, *files] for lib in libs for p in precisions
            if p in engines.get(lib).PRECISIONS and not (m in files and _routes.reason(lib, _format(files[m])))]
    if args.action == "build":
        return build(jobs, cache, args.rebuild, files)
    try:
        tables = [routes_listing(model, libs, precisions, cache) for model in files.values()]
    except MobiledlError as exc:
        print(f"mobiledl: --models: {exc}", file=sys.stderr)
        return 2
    print("\n\n".join([listing(models, jobs, cache)] * bool(models) + tables))
    return 0


def _files(entries: list[str], pins: tuple[tuple[str, tuple[int, ...]], ...]) -> dict[str, UserModel]:
    """The model files among ``--models`` (options.py checked that each exists), by id."""
    found: dict[str, UserModel] = {}
    for path in (Path(e).expanduser().resolve() for e in entries):
        found[usermodels.model_id(path)] = UserModel(usermodels.model_id(path), path, pins)
    return found


def routes_listing(model: UserModel, libs: list[str], precisions: list[str], cache: Path) -> str:
    """The file's inputs and counts, then per library its route, or why it has none."""
    from tabulate import tabulate

    found = usermodels.inspect(model)
    fmt = _format(model)
    head = (f"{model.id} ({_routes.NAMES.get(fmt, fmt)}: {model.path}) inputs "
            + " ".join(f"{t.name}:{'x'.join(map(str, t.shape))}" for t in found.inputs)
            + (f", params {_count(found.params or 0)}, MACs {_count(found.macs)}" if found.macs is not None else ""))
    rows = []
    for lib in engines.LIBS:
        why = _routes.reason(lib, fmt)
        engine = engines.get(lib)
        row = {"library": lib, "route": (why and f"none: {why}") or _routes.route(lib, fmt)}
        missing = None if lib in libs else "not installed" if not engines.installed(engine) else "not in --libs"
        if not why and missing == "not installed":
            row["route"] += f" (not installed: pip install 'pytest-mobiledl[{engine.EXTRA}]')"
        for p in precisions:  # each cell says which: no route, not installed, not built, or the artifact
            row[p] = (NO_ROUTE if why or p not in engine.PRECISIONS else missing
                      or _cell(zoo.artifact_path(model.id, lib, p, cache, model)))
        rows.append(row)
    return head + "\n" + str(tabulate(rows, headers="keys", tablefmt="github"))


def _format(model: UserModel) -> str:
    return usermodels.format_of(model.path)


def build(jobs: list[tuple[str, str, str]], cache: Path, rebuild: bool, files: dict[str, UserModel]) -> int:
    from tqdm import tqdm

    failed = []
    with tqdm(jobs, unit="artifact", file=sys.stderr) as bar:
        for model, lib, precision in bar:
            bar.set_postfix_str(f"{model} → {lib} {precision}")
            try:
                artifact = zoo.artifact(model, lib, precision, cache, rebuild, files.get(model))
            except ConversionError as exc:
                failed.append(str(exc))
                continue
            if not artifact.parity["passed"]:
                failed.append(f"{lib} {model} ({precision}): parity failed")
    for line in failed:
        print(line, file=sys.stderr)
    print(f"{len(jobs) - len(failed)} of {len(jobs)} artifacts built and parity-checked in {cache}")
    return 1 if failed else 0


#: Cells of the listings: a combination the library cannot make, and an artifact not converted yet.
NO_ROUTE = "no route"
NOT_BUILT = "not built"


def listing(models: list[str], jobs: list[tuple[str, str, str]], cache: Path) -> str:
    """Zoo models; a column per library × precision it has a route for (``no route`` where a model lacks one)."""
    from tabulate import tabulate

    rows = []
    for model in models:
        spec, stats = zoo.load(model), _stats(model, cache)
        row = {"model": model, "domain": spec.domain,
               "inputs": " ".join(f"{t.name}:{'x'.join(map(str, t.shape))}" for t in spec.inputs),
               "params": _count(stats["params"]), "MACs": _count(stats["macs"])}
        for m, lib, precision in jobs:
            if m == model:
                row[f"{lib} {precision}"] = _cell(zoo.artifact_path(model, lib, precision, cache))
        rows.append(row)
    table: str = tabulate(rows, headers="keys", tablefmt="github", missingval=NO_ROUTE)
    return table


def _count(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


def _cell(path: Path) -> str:
    if not zoo.complete(path):
        return NOT_BUILT
    damage = zoo.damage(path)
    if damage:
        return "damaged: rebuilt on next use"
    meta = json.loads(zoo.meta_path(path).read_text())
    took = f" {meta['build']['seconds']:.0f} s" if "build" in meta else ""
    return f"{path.stat().st_size / 2**20:.1f} MB{took} {'ok' if meta['parity']['passed'] else 'PARITY FAILED'}"


def _stats(model: str, cache: Path) -> dict[str, int]:
    """Parameters and MACs, computed once per version of the model's source."""
    from pytest_mobiledl.counts import count

    path = cache / model / f"stats-{zoo.source_key(model)}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        computed = count(zoo.load(model))
        path.write_text(json.dumps({"params": computed.params, "macs": computed.macs}))
    result: dict[str, int] = json.loads(path.read_text())
    return result
