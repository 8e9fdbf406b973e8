"""Reading native tools' text: strict numbers, required lines, and failures every tool shares.

Every parser follows the same order, so a failure is named by its most specific cause:
runner problems (binary or library missing) → the tool's own error lines → crash or non-zero
exit → required lines → plausibility.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from pytest_mobiledl.native.spec import TAIL_CHARS, ToolError

#: Exit statuses an Android shell reports for a process killed by a signal (128 + signal).
_SIGNALS = {4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 15: "SIGTERM"}

_CRASH_TEXT = re.compile(
    r"Segmentation fault|Aborted|Fatal signal \d+|terminate called after throwing|"
    r"libc\+\+abi: terminating|Bus error|Illegal instruction|Killed"
)


def combined(stdout: str, stderr: str) -> str:
    """Both streams, stdout first, one tool line per line with its padding stripped.

    Tools split their lines between the streams inconsistently; an adb pty ends lines with
    ``\r\n``; padding moves with versions and printf widths (MNN's warm-up line ends in
    ``"\n "``, so the next line starts with a space; benchncnn right-aligns names with ``%20s``).
    """
    text = stdout.rstrip("\n") + "\n" + stderr if stdout and stderr else stdout or stderr
    return "\n".join(line.strip() for line in text.splitlines())


def tail(text: str) -> str:
    return text[-TAIL_CHARS:]


def number(lib: str, text: str, what: str, evidence: str) -> float:
    """A finite float, or a ToolError naming what was unreadable (never a silent zero)."""
    try:
        value = float(text)
    except ValueError:
        raise ToolError(lib, "missing_lines", f"{what} is not a number: {text!r}", tail(evidence)) from None
    if not math.isfinite(value):
        raise ToolError(lib, "implausible", f"{what} is {text}", tail(evidence))
    return value


def search(lib: str, pattern: str | re.Pattern[str], text: str, what: str) -> re.Match[str]:
    """The first match of a required line; its absence is a ToolError saying which line."""
    found = _compiled(pattern).search(text)
    if found is None:
        raise ToolError(
            lib, "missing_lines", f"no {what} line in the output (truncated or unexpected output?)", tail(text)
        )
    return found


def optional(pattern: str | re.Pattern[str], text: str) -> re.Match[str] | None:
    return _compiled(pattern).search(text)


def _compiled(pattern: str | re.Pattern[str]) -> re.Pattern[str]:
    """Line-anchored patterns everywhere: ``^``/``$`` mean a line of the tool's output."""
    return pattern if isinstance(pattern, re.Pattern) else re.compile(pattern, re.MULTILINE)


def check_echo(lib: str, text: str, echoes: Iterable[tuple[str, str, object]]) -> None:
    """Every setting the tool printed back must be the one asked: ``(what, pattern, asked)``.

    The pattern's first group is the echoed value; each occurrence is checked (some tools echo
    a setting twice). An absent echo is not checked here: required lines are ``search``'s job.
    """
    for what, pattern, asked in echoes:
        for found in _compiled(pattern).finditer(text):
            if found.group(1) != str(asked):
                raise ToolError(
                    lib,
                    "settings_mismatch",
                    f"asked {what} {asked}, the tool echoed {found.group(1)}: {whole_line(text, found)}",
                    tail(text),
                )


def pick_row(lib: str, rows: list[re.Match[str]], names: Iterable[str], text: str) -> re.Match[str]:
    """The one result row named for the requested model, among every row the tool printed.

    Tools that benchmark a whole folder or a built-in list print one row per model; the
    error for a missing row lists the rows that were found, so a wrong name is visible.
    """
    wanted = tuple(names)
    mine = [r for r in rows if r.group("name") in wanted]
    if len(mine) == 1:
        return mine[0]
    found = ", ".join(r.group("name") for r in rows) or "none"
    what = "no result row" if not mine else f"{len(mine)} result rows"
    raise ToolError(lib, "missing_lines", f"{what} for {wanted[0]}; rows found: {found}", tail(text))


def section(text: str, rows: list[re.Match[str]], mine: list[re.Match[str]]) -> str:
    """The output that belongs to the requested model, whose own messages precede its row.

    From the end of the row before its row to its row's end; when it printed no row (one
    row is required later), what follows the last row: the model that was running last.
    """
    if len(mine) != 1:
        return text[rows[-1].end() :] if rows else text
    before = [r.end() for r in rows if r.end() <= mine[0].start()]
    return text[(before[-1] if before else 0) : mine[0].end()]


def whole_line(text: str, found: re.Match[str]) -> str:
    start = text.rfind("\n", 0, found.start()) + 1
    end = text.find("\n", found.end())
    return text[start : end if end != -1 else len(text)].strip()


def first_line(pattern: str, text: str) -> str | None:
    """The whole line holding the first match: the tool's own words make the best cause."""
    found = re.search(pattern, text, re.MULTILINE)
    return None if found is None else whole_line(text, found)


def fail_on(lib: str, text: str, rules: Iterable[tuple[str, str, str]]) -> None:
    """Raise for the first rule whose pattern occurs: ``(pattern, kind, what it means)``."""
    for pattern, kind, meaning in rules:
        line = first_line(pattern, text)
        if line is not None:
            raise ToolError(lib, kind, f"{meaning}: {line}", tail(text))


def check_runner(lib: str, text: str) -> None:
    """Failures of the runner itself, before the tool could print anything of its own."""
    fail_on(
        lib,
        text,
        (
            (r"CANNOT LINK EXECUTABLE", "missing_library", "a shared library is missing on the device"),
            (r"library \"[^\"]+\" not found", "missing_library", "a shared library is missing on the device"),
            (r"(?:inaccessible or not found|: not found$)", "missing_runner", "the binary is not on the device"),
            (r"Permission denied", "missing_runner", "the binary is not executable (chmod +x?)"),
            (r"not executable: (?:32|64)-bit ELF", "missing_runner", "the binary is built for another ABI"),
        ),
    )


def check_exit(lib: str, returncode: int, text: str) -> None:
    """A signal or non-zero exit the tool-specific rules did not explain."""
    signal = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    crash_line = first_line(_CRASH_TEXT.pattern, text)
    if signal in _SIGNALS or crash_line is not None:
        name = _SIGNALS.get(signal, f"signal {signal}") if signal else "a signal"
        detail = f" ({crash_line})" if crash_line else ""
        raise ToolError(lib, "crash", f"the tool died on {name}, exit status {returncode}{detail}", tail(text))
    if returncode != 0:
        last = last_error_line(text)
        detail = f": {last}" if last else ""
        raise ToolError(lib, "nonzero_exit", f"the tool exited with status {returncode}{detail}", tail(text))


def last_error_line(text: str) -> str | None:
    lines = [ln.strip() for ln in text.splitlines() if re.search(r"error|fail", ln, re.IGNORECASE)]
    return lines[-1] if lines else None
