"""The folder that stands in for a device: its "/" and the facts shown in its /proc and /sys.

<base>/root/                 the device's "/": data/local/tmp, system/bin (getprop, nproc, sh),
                             system/build.prop, and empty mount points for the host's dirs
<base>/facts/meminfo         bound over /proc/meminfo
<base>/facts/cpu/            bound over /sys/devices/system/cpu: possible, present, online,
                             cpuN/cpufreq/cpuinfo_{max,min}_freq, scaling_max_freq
<base>/facts/thermal/        bound over /sys/class/thermal: thermal_zoneN/{type,temp}
<base>/facts/power_supply/   bound over /sys/class/power_supply: battery/, usb/
                             (sysfs.py keeps these and the cpufreq clocks current)
<base>/facts/passwd, group   the host's, plus the "shell" user 2000

layout.py names these paths, for this module, sysfs and the sandboxes alike.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from pytest_mobiledl.emulator import sysfs
from pytest_mobiledl.emulator.layout import Layout
from pytest_mobiledl.emulator.props import DeviceProps

SHELL_UID = 2000  # Android's "shell": adb shell runs as it and pushed files belong to it
TMP = "/data/local/tmp"
BUILD_PROP = "/system/build.prop"
SYSTEM_BIN = "/system/bin"
MIN_FREQ_KHZ = 300000

_GETPROP = """#!/bin/sh
# getprop [NAME [DEFAULT]]: Android's property reader, over a build.prop file.
f={props}
if [ $# -eq 0 ]; then
    sed -n 's/^\\([^#=][^=]*\\)=\\(.*\\)$/[\\1]: [\\2]/p' "$f" | sort
    exit 0
fi
awk -v k="$1" -v d="${{2-}}" \\
    'index($0, k "=") == 1 {{ print substr($0, length(k) + 2); found = 1; exit }}
     END {{ if (!found) print d }}' "$f"
"""

# Android reports the online cores; without this, coreutils would report the host's.
_NPROC = "#!/bin/sh\necho {cores}\n"

# toybox's taskset, for a device whose cpus are not this machine's: the mask is logged (so tests
# see what a phone would have been asked) and the command runs unpinned.
_TASKSET = """#!/bin/sh
if [ "$1" = -p ] || [ $# -lt 2 ]; then echo "taskset: only 'taskset MASK COMMAND…' is emulated" >&2; exit 1; fi
echo "$1 $2" >> "${TMPDIR:-/data/local/tmp}/emulator-taskset.log"
shift
exec "$@"
"""

# dumpsys power / thermalservice, in the lines the plugin reads: status from the hottest CPU zone.
_DUMPSYS = """#!/bin/sh
case "$1" in
power) printf 'Display Power: state=ON\nmWakefulness=Awake\n' ;;
thermalservice)
    for z in {thermal}/thermal_zone*; do echo "$(cat "$z/type") $(cat "$z/temp")"; done | awk '
        {{ t = $2 / 1000; cpu = $1 ~ /cpu/; if (cpu && t > hot) hot = t
           line[NR] = sprintf("\tTemperature{{mValue=%.1f, mType=%d, mName=%s, mStatus=0}}", t, cpu ? 0 : 2, $1) }}
        END {{ print "Thermal Status: " (hot >= 55 ? 3 : hot >= 50 ? 2 : hot >= 45 ? 1 : 0);
              print "Current temperatures from HAL:"; for (i = 1; i <= NR; i++) print line[i] }}' ;;
*) echo "Can't find service: $1" ;;
esac
"""


def build(layout: Layout, props: DeviceProps, owner: int | None, build_prop: str) -> None:
    """Write the device tree; `owner` gets /data/local/tmp, `build_prop` is getprop's file."""
    _dir(layout.root, 0o755)  # shell (2000) must be able to walk from "/"
    _dir(layout.root / "data", 0o771)
    _dir(layout.root / "data/local", 0o751)
    tmp = _dir(layout.host(TMP), 0o771)
    if owner is not None:
        os.chown(tmp, owner, owner)
    bin_dir = _dir(layout.host(SYSTEM_BIN), 0o755)
    layout.host(BUILD_PROP).write_text(props.build_prop())
    _script(bin_dir / "getprop", _GETPROP.format(props=shlex.quote(build_prop)))
    _script(bin_dir / "nproc", _NPROC.format(cores=props.cores))
    _script(bin_dir / "taskset", _TASKSET)
    # Scripts' own paths are not rewritten: a rewriting sandbox's dumpsys reads the folder itself.
    thermal = "/sys/class/thermal" if build_prop == BUILD_PROP else str(layout.thermal)
    _script(bin_dir / "dumpsys", _DUMPSYS.format(thermal=shlex.quote(thermal)))
    if not (bin_dir / "sh").is_symlink():
        (bin_dir / "sh").symlink_to("/bin/sh")  # for scripts written for a phone
    _write_facts(layout, props)


def _write_facts(layout: Layout, props: DeviceProps) -> None:
    _dir(layout.facts, 0o755)
    total = props.mem_total_kb
    layout.meminfo.write_text(
        f"MemTotal:       {total:>8} kB\nMemFree:        {total // 2:>8} kB\n"
        f"MemAvailable:   {total * 3 // 4:>8} kB\nBuffers:        {0:>8} kB\n"
        f"Cached:         {total // 8:>8} kB\nSwapTotal:      {0:>8} kB\nSwapFree:       {0:>8} kB\n"
    )
    cpu = _dir(layout.cpu, 0o755)
    span = f"0-{props.cores - 1}\n" if props.cores > 1 else "0\n"
    for name in ("possible", "present", "online"):
        (cpu / name).write_text(span)
    for core, khz in enumerate(props.cpu_max_freq_khz):
        freq = _dir(cpu / f"cpu{core}" / "cpufreq", 0o755)
        (cpu / f"cpu{core}" / "online").write_text("1\n")
        for name, value in (("cpuinfo_max_freq", khz), ("scaling_max_freq", khz), ("cpuinfo_min_freq", MIN_FREQ_KHZ)):
            (freq / name).write_text(f"{value}\n")
    sysfs.Sysfs(layout, props)  # writes the first state of the thermal, cpufreq and battery files
    _with_shell_user(
        Path("/etc/passwd"), layout.facts / "passwd", f"shell:x:{SHELL_UID}:{SHELL_UID}::{TMP}:/system/bin/sh"
    )
    _with_shell_user(Path("/etc/group"), layout.facts / "group", f"shell:x:{SHELL_UID}:")


def _with_shell_user(source: Path, target: Path, line: str) -> None:
    """`id` and Python's pwd then name uid 2000 "shell", as on a phone."""
    text = source.read_text() if source.exists() else ""
    taken = any(row.split(":")[2:3] == [str(SHELL_UID)] for row in text.splitlines())
    if text and not text.endswith("\n"):
        text += "\n"
    target.write_text(text if taken else text + line + "\n")
    target.chmod(0o644)


def _dir(path: Path, mode: int) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)  # explicit: mkdir's mode is masked by the umask
    return path


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)
