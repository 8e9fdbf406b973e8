"""A cached artifact is used only if its bytes are the ones its metadata recorded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pytest_mobiledl import zoo

RUN = ["-p", "no:cacheprovider", "--warmup=1", "--iterations=5", "--libs=onnxruntime", "-W", "always"]


def fake_artifact(tmp_path: Path, content: bytes = b"\x01" * 10000) -> Path:
    path = tmp_path / "onnxruntime-fp32-0123.onnx"
    path.write_bytes(content)
    meta = {"parity": {"passed": True}, "inputs": [], "outputs": [], "sha256": zoo.file_sha256(path)}
    zoo.meta_path(path).write_text(json.dumps(meta))
    return path


def flip(path: Path, offset: int, length: int = 4096) -> None:
    data = bytearray(path.read_bytes())
    for i in range(offset, min(offset + length, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_an_intact_artifact_has_no_damage(tmp_path: Path) -> None:
    assert zoo.damage(fake_artifact(tmp_path)) is None


@pytest.mark.parametrize(("damage", "says"), [
    (lambda p: flip(p, 2000), "does not match its metadata (sha256 *, recorded *; truncated or corrupt)"),
    (lambda p: p.write_bytes(p.read_bytes()[:100]), "does not match its metadata*"),
    (lambda p: zoo.meta_path(p).write_text('{"parity": '), "has unreadable metadata (JSONDecodeError*"),
    (lambda p: zoo.meta_path(p).write_text("[]"), "has malformed metadata*"),
    (lambda p: zoo.meta_path(p).write_text('{"parity": {}, "inputs": [], "outputs": []}'), "has malformed metadata*"),
    (lambda p: zoo.meta_path(p).write_bytes(b"\xff\xfe"), "has unreadable metadata*"),
])
def test_damage_is_named(tmp_path: Path, damage: object, says: str) -> None:
    import fnmatch

    path = fake_artifact(tmp_path)
    damage(path)  # type: ignore[operator]
    found = zoo.damage(path)
    assert found is not None and fnmatch.fnmatch(found, says), found


def damaged_cache(model_cache: Path, tmp_path: Path) -> Path:
    """A private cache holding a copy of the shared tiny_cnn onnxruntime artifact."""
    built = zoo.artifact("tiny_cnn", "onnxruntime", "fp32", model_cache)
    cache = tmp_path / "cache"
    target = zoo.artifact_path("tiny_cnn", "onnxruntime", "fp32", cache)
    target.parent.mkdir(parents=True)
    shutil.copy(built.path, target)
    shutil.copy(zoo.meta_path(built.path), zoo.meta_path(target))
    return target


@pytest.mark.parametrize("damage", [
    pytest.param(lambda p: flip(p, p.stat().st_size // 2), id="4KiB-flipped"),
    pytest.param(lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 3]), id="truncated",
                 marks=pytest.mark.slow),
    pytest.param(lambda p: zoo.meta_path(p).write_text("{not json"), id="malformed-meta", marks=pytest.mark.slow),
])
def test_a_damaged_cached_artifact_is_rebuilt_once_and_the_item_passes(
        bench_dir: pytest.Pytester, model_cache: Path, tmp_path: Path, damage: object) -> None:
    target = damaged_cache(model_cache, tmp_path)
    damage(target)  # type: ignore[operator]
    result = bench_dir.runpytest_subprocess(*RUN, f"--model-cache={target.parents[1]}")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*CacheWarning: cached {target.name} * rebuilding it"])
    result.stdout.no_fnmatch_line("*Traceback*")
    assert zoo.damage(target) is None
    assert json.loads(zoo.meta_path(target).read_text())["sha256"] == zoo.file_sha256(target)


# Damages the cached artifact after the first repeat, in its weights (it still loads), keeping its
# size and mtime: the session's per-file check cannot see it, only the runner's hash of what it ran.
DAMAGE_AFTER_FIRST = '''
import os, onnx
from pathlib import Path

def pytest_runtest_teardown(item):
    if not item.nodeid.endswith("-r1]"):
        return
    [path] = Path(os.environ["DAMAGE_CACHE"]).rglob("*.onnx")
    weights = bytes(onnx.load(str(path)).graph.initializer[0].raw_data)
    data = bytearray(path.read_bytes())
    at = data.find(weights) + len(weights) // 2
    data[at] ^= 0xFF
    stat = path.stat()
    path.write_bytes(bytes(data))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
'''


@pytest.mark.slow  # a conversion (~10 s)
def test_an_artifact_damaged_mid_session_fails_that_repeat_gets_no_parity_and_is_rebuilt(
        bench_dir: pytest.Pytester, model_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = damaged_cache(model_cache, tmp_path)
    recorded = zoo.file_sha256(target)
    bench_dir.makeconftest(DAMAGE_AFTER_FIRST)
    monkeypatch.setenv("DAMAGE_CACHE", str(target.parents[1]))
    result = bench_dir.runpytest_subprocess(*RUN, "--repeats=3", "--warmup=0", "--iterations=3",
                                            f"--model-cache={target.parents[1]}", "--benchmark-json=out.json")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([f"*host onnxruntime: the runner ran {target.name} with sha256 *…, not the verified "
                                 f"{recorded[:12]}…: the cached file was damaged during the session; it is rebuilt "
                                 "for the next repeat"])
    result.stderr.fnmatch_lines(["mobiledl: converting tiny_cnn for onnxruntime (fp32) and checking its parity …",
                                 "mobiledl: converting tiny_cnn for onnxruntime (fp32) and checking its parity: done "
                                 "in * s (before the runner started: in this item's duration, not in its latencies)"])
    [bench] = json.loads((bench_dir.path / "out.json").read_text())["benchmarks"]
    ran = {r["repeat"]: r["artifact_sha256"] for r in bench["extra_info"]["repeats"]}
    assert set(ran) <= {1, 3} and ran.get(1) == recorded  # the damaged repeat is stored nowhere
    assert zoo.damage(target) is None and zoo.file_sha256(target) == json.loads(
        zoo.meta_path(target).read_text())["sha256"]


def test_the_cache_check_reading_is_the_one_the_record_and_the_push_use(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A session reads a cached artifact's bytes once: the check, the record's sha256 and the
    push's content address (``devices/adb._digest``) share it while the file stays the same."""
    from pytest_mobiledl import digests
    from pytest_mobiledl.devices.adb import _digest

    path = fake_artifact(tmp_path)
    read: list[Path] = []
    feed = digests.feed
    monkeypatch.setattr(digests, "feed", lambda h, p: read.append(p) or feed(h, p))  # every reading of bytes
    assert zoo.damage(path) is None
    _digest(path)
    assert digests.known_sha256(path) == json.loads(zoo.meta_path(path).read_text())["sha256"]
    assert read == [path]
