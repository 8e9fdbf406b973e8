"""The report's analyses (impact, cold vs warm, memory, stability, parity, environment) and merging,
on records of known values, checked against figures computed by hand."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest

from pytest_mobiledl.record import RunRecord, from_dict
from pytest_mobiledl.report import analyses, contents, tables
from pytest_mobiledl.report.inputs import Run

GOLDEN = json.loads((Path(__file__).parent / "golden" / "record_v1.json").read_text())
T4 = 2.776445  # Student's t, 97.5 %, 4 degrees of freedom (Welch with equal n = 3 and equal spread)


def rec(lib: str, medians: list[float], model: str = "m1", threads: int = 1, precision: str = "fp32",
        backend: str = "cpu", version: str = "1.0", **per_repeat: list[Any]) -> list[RunRecord]:
    """One record per repeat, each of whose samples all equal that repeat's median."""
    out = []
    for k, m in enumerate(medians):
        fields = {name: values[k] for name, values in per_repeat.items()}
        out.append(from_dict(GOLDEN | {"lib": lib, "lib_version": version, "model": model, "threads": threads,
                                       "precision": precision, "backend": backend, "samples_ms": [m] * 5,
                                       "device": {"serial": "host", "model": "ci", "cpu": "Xeon", "cores": 2}}
                             | fields).with_(repeat=k + 1))
    return out


# Every group of three repeats is evenly spaced by ×1.25 on the log scale: the geometric mean is the
# middle value and the CI of a ratio of two such groups is ratio × exp(±t4 · ln1.25 · √(2/3)).
RECORDS = [
    *rec("onnxruntime", [8.0, 10.0, 12.5], first_inference_ms=[3.0, 5.0, 40.0], load_ms=[1.0, 2.0, 3.0],
         init_ms=[10.0, 20.0, 30.0], peak_rss_mb=[80.0, 82.0, 90.0], load_avg_1m=[0.5, 1.5, 1.0]),
    *rec("tflite", [4.0, 5.0, 6.25]),
    *rec("tflite", [3.2, 4.0, 5.0], threads=2),
    *rec("tflite", [2.0, 2.5, 3.125], precision="int8"),
    *rec("ncnn", [30.0, 30.0, 30.0], flags=[["mean_only"]] * 3, samples_ms=[None] * 3,
         summary_ms=[{"mean": 30.0}] * 3),
]
HALF = math.exp(T4 * math.log(1.25) * math.sqrt(2 / 3))


def run(label: str, records: list[RunRecord], when: str = "") -> Run:
    return Run(label, Path(f"{label}.json"), tuple(records), when)


def cases(*runs: Run) -> Any:
    return analyses.cases(list(runs))


def ratio_cell(ratio: float) -> str:
    return f"{ratio:.2f} [{ratio / HALF:.2f}, {ratio * HALF:.2f}]"


def test_impact_sets_library_choice_against_int8_and_threads() -> None:
    [row] = analyses.impact(cases(run("a", RECORDS[:12]))).to_dict("records")
    # fastest: tflite t2 (4.0); slowest: onnxruntime t1 (10.0) → library ×2.5; int8 4.0 ÷ 2.5 = ×1.6;
    # threads t1 5.0 ÷ t2 4.0 = ×1.25; no fp16, no accelerator, one build of each library.
    assert row["fastest library"] == "tflite (t2)"
    assert row["library ×"] == ratio_cell(2.5)  # [1.51, 4.14]: established
    assert row["int8 ×"] == "tie: " + ratio_cell(1.6)  # [0.96, 2.65] holds 1: no difference shown
    assert row["threads ×"] == "tie: " + ratio_cell(1.25)
    assert row["fp16 ×"] == row["accelerator ×"] == row["build ×"] == "—"
    # library's CI [1.51, 4.14] overlaps int8's [0.96, 2.65] and threads' [0.75, 2.07]: no name.
    assert row["largest"] == "cannot tell: library ≈ int8 ≈ threads"


def test_impact_names_the_largest_factor_only_where_the_cis_establish_it() -> None:
    far = [*rec("onnxruntime", [40.0, 50.0, 62.5]), *rec("tflite", [4.0, 5.0, 6.25]),
           *rec("tflite", [3.2, 4.0, 5.0], precision="int8")]
    [row] = analyses.impact(cases(run("a", far))).to_dict("records")
    # library ×10 [6.0, 16.6] lies wholly above int8's ×1.25 [0.75, 2.07].
    assert row["library ×"] == ratio_cell(10.0) and row["largest"] == "library"
    near = [*rec("onnxruntime", [5.0, 6.25, 7.8125]), *rec("tflite", [4.0, 5.0, 6.25])]
    [row] = analyses.impact(cases(run("a", near))).to_dict("records")
    # 1.25 [0.75, 2.07]: the two libraries are a tie, and no factor is established.
    assert row["fastest library"] == "tie: tflite (t1) ≈ onnxruntime (t1)"
    assert row["library ×"] == "tie: " + ratio_cell(1.25)
    assert row["largest"] == "no factor established"
    one = [*rec("onnxruntime", [5.0]), *rec("tflite", [4.0])]
    [row] = analyses.impact(cases(run("a", one))).to_dict("records")
    assert row["library ×"] == "n/a (< 2 repeats)" and row["largest"] == "cannot tell: fewer than 2 repeats"


def variant(lib: str, label: str, medians: list[float], **kw: Any) -> list[RunRecord]:
    """A --variant build's repeats, as bench.py stores them (the label in engine_options)."""
    return [r.with_(engine_options={**r.engine_options, "variant": label}) for r in rec(lib, medians, **kw)]


def test_two_builds_of_one_library_are_one_library() -> None:
    records = [*variant("onnxruntime", "old", [8.0, 10.0, 12.5]), *variant("onnxruntime", "new", [4.0, 5.0, 6.25]),
               *rec("tflite", [40.0, 50.0, 62.5])]
    df = cases(run("a", records))
    assert set(df["lib"]) == {"onnxruntime@old", "onnxruntime@new", "tflite"}
    assert set(df["base_lib"]) == {"onnxruntime", "tflite"} and set(df["variant"]) == {"old", "new", ""}
    [row] = analyses.impact(df).to_dict("records")
    # library: tflite 50 ÷ onnxruntime's fastest build 5 = ×10, not ÷ its other build; build: 10 ÷ 5.
    assert row["fastest library"] == "onnxruntime@new (t1)"
    assert row["library ×"] == ratio_cell(10.0) and row["build ×"] == ratio_cell(2.0)
    assert row["largest"] == "library"
    env = analyses.environment([run("a", records)], df).to_dict("records")
    assert env[0]["libraries"] == "onnxruntime@new 1.0, onnxruntime@old 1.0, tflite 1.0"
    assert set(analyses.filtered(df, libs=["onnxruntime"])["lib"]) == {"onnxruntime@old", "onnxruntime@new"}
    ab = analyses.variants([run("a", records)], df)
    assert list(ab["variant"]) == ["onnxruntime@new", "onnxruntime@old"] and set(ab["run"]) == {"a"}
    sections = {t.name: t.frame for t in contents.build([run("a", records[:6])], cases(run("a", records[:6])))}
    assert sections["gap"].empty and not sections["variants"].empty  # two builds of one library: no gap


def test_cold_vs_warm_are_medians_over_repeats() -> None:
    [row] = analyses.cold_warm(cases(run("a", RECORDS[:3]))).to_dict("records")
    assert (row["load ms"], row["init ms"], row["first inference ms"]) == (2.0, 20.0, 5.0)
    assert row["warm ms"] == pytest.approx(10.0)
    assert row["first inference ÷ warm"] == pytest.approx(0.5)


def test_memory_and_stability() -> None:
    df = cases(run("a", RECORDS))
    mem = {r["lib"]: r for r in analyses.memory(df).to_dict("records")
           if r["threads"] == 1 and r["precision"] == "fp32"}
    assert (mem["onnxruntime"]["peak RSS MB (median)"], mem["onnxruntime"]["peak RSS MB (max)"]) == (82.0, 90.0)
    assert mem["tflite"]["peak RSS MB (max)"] == GOLDEN["peak_rss_mb"]
    rows = {(r["lib"], r["threads"], r["precision"]): r for r in analyses.stability(df).to_dict("records")}
    ort = rows["onnxruntime", 1, "fp32"]
    assert ort["repeats"] == 3
    assert ort["CV % (repeats)"] == round(statistics.stdev([8, 10, 12.5]) / statistics.fmean([8, 10, 12.5]) * 100, 3)
    assert ort["CV % (samples)"] == 0.0
    assert ort["CI ± %"] == round((math.exp(4.302653 * math.log(1.25) / math.sqrt(3))
                                   - math.exp(-4.302653 * math.log(1.25) / math.sqrt(3))) / 2 * 100, 3)
    assert ort["load avg (max)"] == 1.5
    assert rows["ncnn", 1, "fp32"]["flags"] == "mean_only"
    assert rows["ncnn", 1, "fp32"]["CV % (samples)"] is None or math.isnan(rows["ncnn", 1, "fp32"]["CV % (samples)"])


def test_parity_is_the_worst_error_per_artifact_over_runs() -> None:
    ok = rec("onnxruntime", [1.0, 1.1], parity=[{"passed": True, "max_rel_err": 1e-6, "max_abs_err": 2e-7},
                                                 {"passed": True, "max_rel_err": 3e-6, "max_abs_err": 1e-7}])
    bad = rec("onnxruntime", [1.0], parity=[{"passed": False, "max_rel_err": 0.5, "max_abs_err": 0.1}])
    unchecked = rec("tflite", [1.0], artifact_sha256="f" * 64)
    table = analyses.parity(cases(run("a", ok + unchecked), run("b", bad)))
    rows = {r["lib"]: r for r in table.to_dict("records")}
    assert rows["onnxruntime"]["worst rel err"] == 0.5  # one artifact, its worst over both runs
    assert rows["onnxruntime"]["verdict"] == "FAILED" and rows["onnxruntime"]["runs"] == "a, b"
    assert rows["tflite"]["verdict"] == "not checked"


def test_environment_names_devices_versions_and_flags() -> None:
    env = analyses.environment([run("a", RECORDS, "2026-12-01T10:00:00")]).to_dict("records")
    assert env == [{"run": "a", "when": "2026-12-01T10:00:00", "device": "host", "model": "ci", "cpu": "Xeon",
                    "cores": 2, "system": "?", "libraries": "ncnn 1.0, onnxruntime 1.0, tflite 1.0",
                    "flags": "ncnn: mean_only (the tool printed a mean and no per-run samples)"}]


def test_the_same_item_in_two_runs_is_two_rows_never_averaged() -> None:
    first = rec("onnxruntime", [8.0, 10.0, 12.5], version="1.20") + rec("tflite", [4.0, 5.0, 6.25])
    second = rec("onnxruntime", [4.0, 5.0, 6.25], version="1.21") + rec("tflite", [4.0, 5.0, 6.25])
    df = cases(run("0001", first), run("0002", second))
    assert len(df) == 4
    ort = df[df["base_lib"] == "onnxruntime"].set_index("run")
    assert ort.loc["0001", "median_ms"] == pytest.approx(10.0) and ort.loc["0002", "median_ms"] == pytest.approx(5.0)
    # the version only where it differs between the runs: the run tells the rest
    assert set(df["lib"]) == {"onnxruntime 1.20 @0001", "onnxruntime 1.21 @0002", "tflite @0001", "tflite @0002"}
    [frag] = tables.fragmentation(df).to_dict("records")
    # Runs of one library are builds of one library: ranked at its best run, never pooled with another.
    assert frag["fastest"].startswith("tie: ") and frag["libs"] == 2  # 5 ≈ 5, never one pooled figure
    assert "onnxruntime 1.21 @0002" in frag["fastest"]


def test_filters_and_every_table_is_built() -> None:
    df = analyses.filtered(cases(run("a", RECORDS)), libs=["tflite", "onnxruntime"])
    assert set(df["base_lib"]) == {"tflite", "onnxruntime"}
    sections = contents.build([run("a", RECORDS)], df)
    assert [t.name for t in sections] == ["runs", "fragmentation", "gap", "variants", "impact", "cold_warm", "memory",
                                          "stability", "conditions", "parity", "environment"]
    # no --variant builds, and the host reports no state
    assert all(not t.frame.empty for t in sections if t.name not in ("variants", "conditions"))


PHONE = {"serial": "R58M", "kind": "adb", "model": "SM-S918B", "soc": "SM8550", "board": "kalama", "abi": "arm64-v8a",
         "release": "14", "sdk": "34", "cores": 8}
EMULATED = {"serial": "emulator-5554", "kind": "adb", "model": "Loopback 8", "soc": "LB8000", "abi": "x86_64",
            "release": "14", "sdk": "34", "cores": 8}


def on(device: dict[str, Any], records: list[RunRecord], states: list[tuple[float, float, float, list[str]]]
       ) -> list[RunRecord]:
    """The records moved to a device, each with its state: (°C before, °C after, lowest clock ratio, flags)."""
    return [r.with_(device=device, flags=tuple(flags),
                    conditions={"cores": "big", "cpus": [4, 5, 6, 7], "cpu_temp_c_before": before,
                                "cpu_temp_c_after": after, "freq_lowest_ratio": lowest, "governor": "schedutil",
                                "battery_pct": 80 - k, "power_source": "battery", "thermal_status": 3 if after > 55
                                else 0, "cooldown_waited_s": 1.5})
            for k, (r, (before, after, lowest, flags)) in enumerate(zip(records, states, strict=True))]


def test_conditions_per_device_in_the_table_and_the_terminal_line() -> None:
    phone = on(PHONE, rec("tflite", [4.0, 5.0, 6.25]), [(35.0, 44.0, 0.98, []), (38.0, 57.5, 0.62, ["throttled"]),
                                                       (46.0, 58.0, 0.60, ["hot_start", "throttled"])])
    emulated = on(EMULATED, rec("tflite", [4.0, 5.0]), [(30.0, 31.0, 1.0, []), (30.5, 31.0, 1.0, [])])
    records = [*phone, *emulated, *rec("tflite", [4.0])]  # and the host, which reports no state
    table = {r["device"]: r for r in analyses.conditions.table([run("a", records)], {"a": "a"}).to_dict("records")}
    assert set(table) == {"R58M", "emulator-5554"}
    row = table["R58M"]
    assert (row["runs"], row["CPU °C before"], row["CPU °C after"]) == (3, "38.0 (max 46.0)", "57.5 (max 58.0)")
    assert (row["lowest clock ÷ max"], row["throttled"], row["hot start"]) == ("0.60", "2 of 3", "1 of 3")
    assert (row["battery %"], row["thermal status"], row["cooldown s"], row["note"]) == ("80 → 78", "3", "4.5", "—")
    assert table["emulator-5554"]["note"] == "emulated: this machine's CPU, shared with host"
    assert analyses.conditions.lines(records) == [
        "mobiledl conditions: R58M: CPU 38.0 → 57.5 °C (median before → after; hottest 58.0), lowest clock 0.60 of "
        "max, throttled in 2 of 3 runs, hot start in 1 of 3",
        "mobiledl conditions: emulator-5554: CPU 30.2 → 31.0 °C (median before → after; hottest 31.0), lowest clock "
        "1.00 of max, throttled in 0 of 2 runs, hot start in 0 of 2",
        "mobiledl conditions: emulator-5554 is emulated: latencies of this machine, not of a phone; emulator-5554, "
        "host share this machine's cores: run in parallel (-n), they slow each other"]
    assert analyses.conditions.lines(rec("tflite", [4.0])) == []  # the host alone: nothing to say
    env = {r["device"]: r for r in analyses.environment([run("a", records)]).to_dict("records")}
    assert (env["R58M"]["cpu"], env["R58M"]["system"]) == ("SM8550 kalama", "Android 14 (SDK 34)")
    assert env["emulator-5554"]["cpu"] == "LB8000 (emulated on this machine's CPU)"



def contrast(text: Any, cell: Any) -> float:
    """WCAG contrast ratio between two colours."""
    from matplotlib.colors import to_rgb

    def luminance(colour: Any) -> float:
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(text), luminance(cell)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_every_heatmap_cell_is_readable_and_rows_keep_their_height() -> None:
    from pytest_mobiledl.report import plots

    # one established difference (×1.5: its text was black on the darkest purple), a tie, an empty cell
    records = [*rec("tflite", [4.0, 4.04, 3.96]), *rec("onnxruntime", [6.0, 6.06, 5.94]),
               *rec("tflite", [4.0, 4.1, 3.9], model="m2"), *rec("onnxruntime", [4.1, 4.0, 4.2], model="m2"),
               *rec("ncnn", [4.4, 4.45, 4.35], model="m2")]
    made = plots._heatmap(cases(run("a", records)))
    assert made is not None
    figure, _ = made
    ax = figure.axes[0]
    image = ax.images[0]
    cells = {(round(t.get_position()[0]), round(t.get_position()[1])): t for t in ax.texts}
    shown = {t.get_text() for t in cells.values()}
    assert {"1.00×", "1.50×", "not run"} <= shown and any(s.startswith("≈") for s in shown), shown
    for (j, i), text in cells.items():
        value = image.get_array()[i, j]
        if text.get_text() != "not run":
            assert contrast(text.get_color(), image.cmap(image.norm(value))) >= 4.5, text.get_text()
    assert figure.get_size_inches()[1] >= 0.4 * 2  # sized to its 2 rows, not squeezed into a fixed box
    assert all(contrast(plots._ink(plots._colormap("viridis_r")(k / 255)), plots._colormap("viridis_r")(k / 255))
               >= 4.5 for k in range(256))
