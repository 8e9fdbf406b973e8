"""Device props, props files, the device folder (getprop, facts) and path rewriting."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pytest_mobiledl.emulator import rootfs
from pytest_mobiledl.emulator.errors import EmulatorError
from pytest_mobiledl.emulator.layout import Layout
from pytest_mobiledl.emulator.props import BIG_LITTLE_KHZ, DeviceProps, parse_clocks
from pytest_mobiledl.emulator.sandbox import RewriteSandbox


def test_defaults_describe_a_big_little_phone_running_x86_64() -> None:
    props = DeviceProps()
    assert props.cores == 8
    assert props.cpu_max_freq_khz == (1800000,) * 4 + (2400000,) * 4
    assert props.properties["ro.product.cpu.abilist"] == "x86_64"
    assert {"ro.product.manufacturer", "ro.product.model", "ro.soc.model", "ro.build.version.sdk"} <= set(
        props.properties
    )


def test_props_file_overrides_defaults_and_sets_hardware(tmp_path: Path) -> None:
    path = tmp_path / "pixel.prop"
    path.write_text(
        "# a phone\nro.product.model=Pixel 8\nro.build.version.sdk = 35\n"
        "emulator.cpu.max_freq_khz=2x1000000,1x3000000\nemulator.mem_total_kb=4000000\n"
    )
    props = DeviceProps.from_file(path)
    assert props.properties["ro.product.model"] == "Pixel 8"
    assert props.properties["ro.build.version.sdk"] == "35"
    assert props.properties["ro.product.manufacturer"] == "MobileDL"
    assert props.cpu_max_freq_khz == (1000000, 1000000, 3000000)
    assert props.mem_total_kb == 4000000
    assert "emulator.mem_total_kb" not in props.properties


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no equals sign", "expected key=value"),
        ("emulator.gpu=1", "unknown keys"),
        ("emulator.cpu.max_freq_khz=4xfast", "positive integers"),
        ("emulator.mem_total_kb=-1", "positive integers"),
    ],
)
def test_bad_props_files_fail_in_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.prop"
    path.write_text(text + "\n")
    with pytest.raises(EmulatorError, match=message) as caught:
        DeviceProps.from_file(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_clock_lists() -> None:
    assert parse_clocks("4x1800000,4x2400000") == BIG_LITTLE_KHZ
    assert parse_clocks("1000, 2000") == (1000, 2000)


def test_props_are_immutable_and_validated() -> None:
    props = DeviceProps()
    with pytest.raises(TypeError):
        props.properties["ro.product.model"] = "x"  # type: ignore[index]
    with pytest.raises(EmulatorError):
        DeviceProps(cpu_max_freq_khz=())
    assert props.with_properties({"ro.product.model": "X"}).properties["ro.product.model"] == "X"


@pytest.fixture
def folder(tmp_path: Path) -> Layout:
    layout = Layout(tmp_path / "dev")
    props = DeviceProps(cpu_max_freq_khz=(1000000, 2000000), mem_total_kb=1234).with_properties(
        {"ro.product.model": "Model With Spaces", "ro.x": "a=b"}
    )
    rootfs.build(layout, props, owner=None, build_prop=str(layout.host(rootfs.BUILD_PROP)))
    return layout


def _sh(script: str) -> str:
    result = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=True)
    return result.stdout


def test_getprop_reads_one_property_or_a_default(folder: Layout) -> None:
    getprop = folder.host("/system/bin/getprop")
    assert _sh(f"{getprop} ro.product.model") == "Model With Spaces\n"
    assert _sh(f"{getprop} ro.x") == "a=b\n"
    assert _sh(f"{getprop} ro.missing") == "\n"
    assert _sh(f"{getprop} ro.missing fallback") == "fallback\n"
    assert _sh(f"{getprop} ro.product") == "\n"  # a prefix is not a name


def test_getprop_lists_everything_sorted_in_android_format(folder: Layout) -> None:
    lines = _sh(str(folder.host("/system/bin/getprop"))).splitlines()
    assert "[ro.product.model]: [Model With Spaces]" in lines
    assert lines == sorted(lines)


def test_facts_files(folder: Layout) -> None:
    assert (folder.cpu / "possible").read_text() == "0-1\n"
    assert (folder.cpu / "cpu1/cpufreq/cpuinfo_max_freq").read_text() == "2000000\n"
    assert folder.meminfo.read_text().startswith("MemTotal:           1234 kB\n")
    assert _sh(str(folder.host("/system/bin/nproc"))) == "2\n"
    assert (folder.root.stat().st_mode & 0o777) == 0o755
    assert "shell:x:2000:2000:" in (folder.facts / "passwd").read_text()


def test_rewriting_maps_device_paths_only(folder: Layout) -> None:
    sandbox = RewriteSandbox(folder)
    root = str(folder.root)
    assert sandbox.rewrite("cat /data/local/tmp/a; ls /data/local/tmp") == (
        f"cat {root}/data/local/tmp/a; ls {root}/data/local/tmp"
    )
    assert sandbox.rewrite("cat /proc/meminfo /proc/cpuinfo") == f"cat {folder.meminfo} /proc/cpuinfo"
    assert sandbox.rewrite("/sys/devices/system/cpu/cpu0") == f"{folder.cpu}/cpu0"
    assert sandbox.rewrite("x=/system/bin/getprop") == f"x={root}/system/bin/getprop"
    untouched = "ls /systemd /x/system /data/local/tmpfoo ./data/local/tmp"
    assert sandbox.rewrite(untouched) == untouched
    assert sandbox.resolve("//data/local/../local/tmp/f") == ("/data/local/tmp/f", f"{root}/data/local/tmp/f")
