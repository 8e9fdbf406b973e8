"""The one file digest and the one line of an error: helpers the cache, pushes and child processes share."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pytest_mobiledl import digests
from pytest_mobiledl.digests import feed, file_sha256
from pytest_mobiledl.errors import one_line


def test_a_file_fed_in_chunks_hashes_as_its_bytes_do(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000  # 1.28 MB: more than one chunk
    (tmp_path / "a").write_bytes(data)
    (tmp_path / "b").write_bytes(b"")
    h = hashlib.sha256(b"prefix")
    feed(h, tmp_path / "a")
    assert h.hexdigest() == hashlib.sha256(b"prefix" + data).hexdigest()
    assert file_sha256(tmp_path / "a") == hashlib.sha256(data).hexdigest()
    assert file_sha256(tmp_path / "b") == hashlib.sha256(b"").hexdigest()


def test_an_error_is_one_line_with_its_type_and_no_longer_than_asked() -> None:
    assert one_line(ValueError("bad shape\nat node 3\n")) == "ValueError: bad shape at node 3 "
    assert one_line(RuntimeError("x" * 1000), limit=50) == "RuntimeError: " + "x" * 36
    assert one_line(KeyError()) == "KeyError: "


def test_a_known_digest_is_made_again_once_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(b"a" * 10)
    first = digests.known_sha256(path)
    assert first == digests.file_sha256(path) == digests.known_sha256(path)
    path.write_bytes(b"b" * 11)  # another size (and mtime): not the file that was hashed
    assert digests.known_sha256(path) == digests.file_sha256(path) != first
