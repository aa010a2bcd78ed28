"""--build-deps-as-of-release on an old sdist whose build requirement, as old as the sdist,
has no wheel for this Python and does not build (pesq's numpy 1.22.3 on CPython 3.11):
the failure names that requirement with a hint that follows from it, and is remembered
per (requirements, target, cut-off) so that a rerun says the same without installing."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, IndexServer
from tests.helpers import compile_args, lockbuild, write

PYTHON = f"{sys.implementation.name} {sys.version_info.major}.{sys.version_info.minor}"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("as-of-release-index"))
    # As old as the sdist: only an sdist, which does not build here; the newer has a wheel.
    old = idx.sdist("numpyish", "1.0", misbehave={"build_wheel": "fail"})
    idx.upload_time(old.name, "2020-06-01T00:00:00Z")
    idx.wheel("numpyish", "2.0")
    idx.upload_time("numpyish-2.0-py3-none-any.whl", "2023-07-17T00:00:00Z")
    pesq = idx.sdist(
        "pesqish", "1.0", build_requires=["numpyish"], dynamic_build_requires=["numpyish"]
    )
    idx.upload_time(pesq.name, "2021-01-01T00:00:00Z")
    idx.write()
    return idx


def _compile(tmp_path: Path, env: dict[str, str], url: str) -> tuple[int, str, float]:
    write(tmp_path / "requirements.in", "pesqish\n")
    args = compile_args(url, tmp_path.parent / "cache", "--build-deps-as-of-release")
    started = time.monotonic()
    proc = lockbuild(args, env, tmp_path, check=False)
    return proc.returncode, proc.stderr, time.monotonic() - started


def test_the_failing_requirement_is_named_and_remembered(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    code, stderr, _ = _compile(tmp_path / "first", env, server.url)
    assert code == 1
    cause = f"numpyish==1.0 has no wheel for {PYTHON} and failed to build"
    assert cause in stderr
    assert "lock without --build-deps-as-of-release" in stderr
    assert "Build failures usually indicate" not in stderr
    assert not (tmp_path / "first" / "requirements.txt").exists()
    # A rerun with the same cache: the same cause, remembered, no installer run.
    code, again, _ = _compile(tmp_path / "second", env, server.url)
    assert code == 1
    assert cause in again
    assert "remembered from an earlier run with this cut-off" in again
    assert "full log" not in again.split(cause, 1)[1].split("\n", 1)[0]
