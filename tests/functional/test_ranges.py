"""Wheels the index offers no metadata file for: METADATA is read through HTTP range
requests where the server answers them; the whole wheel (checked against its sha256)
where it does not, or where the wheel is small enough to come whole anyway."""

from __future__ import annotations

import base64
import random
import re
import zipfile
from pathlib import Path

from tests.fixtures import FixtureIndex, IndexServer
from tests.helpers import compile_args, lockbuild, pins, write

BIG_FILE = 3 * 1024 * 1024  # characters of incompressible text: the wheel is ~2.3 MB


def _index(root: Path) -> FixtureIndex:
    idx = FixtureIndex(root, metadata=False)
    noise = base64.b64encode(random.Random(7).randbytes(BIG_FILE * 3 // 4)).decode()
    idx.wheel("big", "1.0", requires_dist=["beta"], files={"big/data.txt": noise})
    idx.wheel("beta", "1.0")
    idx.write()
    return idx


def _wheel_requests(server: IndexServer, name: str) -> list[dict[str, str]]:
    return [
        headers
        for (_, path), headers in zip(server.requests, server.request_headers, strict=True)
        if path.startswith("/files/") and path.rsplit("/", 1)[-1].startswith(f"{name}-")
    ]


def _tamper(idx: FixtureIndex, name: str) -> None:
    """Change a wheel's bytes (a trailing zip comment) without touching the index pages."""
    wheel = next((idx.root / "files").rglob(f"{name}-*.whl"))
    with zipfile.ZipFile(wheel, "a") as archive:
        archive.comment = b"changed"


def test_big_wheel_metadata_is_read_by_ranges(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _index(tmp_path / "idx")
    wheel = next((idx.root / "files").rglob("big-*.whl"))
    assert wheel.stat().st_size > 2 * 1024 * 1024
    write(tmp_path / "requirements.in", "big\n")
    with IndexServer(idx.root) as server:
        lockbuild(compile_args(server.url, tmp_path / "cache"), env, tmp_path)
        assert pins(tmp_path / "requirements.txt") == {"big": "1.0", "beta": "1.0"}
        asked = _wheel_requests(server, "big")
        # The tail (end of central directory and the central directory), then at most
        # the local header and METADATA: never the whole wheel.
        assert 1 <= len(asked) <= 3
        assert all(h.get("Range", "").startswith("bytes=") for h in asked)
        # The small wheel came whole in its first (tail) answer.
        assert len(_wheel_requests(server, "beta")) == 1


def test_server_without_ranges_sends_the_checked_wheel(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _index(tmp_path / "idx")
    write(tmp_path / "requirements.in", "big\n")
    with IndexServer(idx.root, ranges=False) as server:
        lockbuild(compile_args(server.url, tmp_path / "cache"), env, tmp_path)
        assert pins(tmp_path / "requirements.txt") == {"big": "1.0", "beta": "1.0"}
        # The Range request was answered with the whole file, which was used.
        assert len(_wheel_requests(server, "big")) == 1
        _tamper(idx, "big")
        proc = lockbuild(compile_args(server.url, tmp_path / "cache2"), env, tmp_path, check=False)
        assert proc.returncode == 1
        assert _mismatch("big", proc.stderr)
        assert "Traceback" not in proc.stderr


def test_small_wheel_comes_whole_and_is_checked(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _index(tmp_path / "idx")
    write(tmp_path / "requirements.in", "beta\n")
    _tamper(idx, "beta")
    with IndexServer(idx.root) as server:
        proc = lockbuild(compile_args(server.url, tmp_path / "cache"), env, tmp_path, check=False)
        assert proc.returncode == 1
        assert _mismatch("beta", proc.stderr)


def _mismatch(name: str, stderr: str) -> bool:
    """The one line a wheel whose bytes differ from the index's sha256 gives."""
    url = rf"http://127\.0\.0\.1:\d+/files/{name}-1\.0-py3-none-any\.whl"
    digests = r"\(expected [0-9a-f]{64}, got [0-9a-f]{64}\)"
    line = rf"lockbuild: error: {url}: sha256 does not match the index {digests}\n"
    return re.fullmatch(line, stderr) is not None
