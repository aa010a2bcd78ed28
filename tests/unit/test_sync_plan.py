"""What sync builds, as values: sdist lines of a pair's header, build records (what a wheel
was built against) read, compared and added to a wheel, jobs in build-dependency order,
and the plan's judgement of each installed build; tables, in memory (and a wheel made in a
temporary directory). The builds themselves are in tests/functional/test_sync_builds.py."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from lockbuild.build import provenance
from lockbuild.errors import BuildError
from lockbuild.lock.model import LockedFile, LockedPin
from lockbuild.sync import buildjob, interpreter
from lockbuild.sync import plan as plans
from tests.fixtures import make_wheel

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "abiext==1.0 abiext-1.0.tar.gz sha256:" + "a" * 64,
            buildjob.SdistPin(canonicalize_name("abiext"), "1.0", "abiext-1.0.tar.gz", "a" * 64),
        ),
        (
            "Foo_Bar==2 foo_bar-2.zip",
            buildjob.SdistPin(canonicalize_name("foo-bar"), "2", "foo_bar-2.zip", None),
        ),
        ("abiext==1.0", None),
        ("abiext 1.0 x.tar.gz", None),
        ("abiext==1.0 x.tar.gz md5:abc", None),
        ("abiext==1.0 x.tar.gz sha256:short", None),
        ("abiext==1.0 ../x.tar.gz", None),
    ],
)
def test_parse_sdist_line(line: str, expected: buildjob.SdistPin | None) -> None:
    assert buildjob.parse_sdist_line(line) == expected


def _record(env: tuple[str, ...] = ("numpy==2.4.6",)) -> provenance.BuildRecord:
    return provenance.BuildRecord("pyworld", "0.3.4", "pyworld-0.3.4.tar.gz", "b" * 64, env)


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (_record().to_json(), True),
        (None, False),
        ("", False),
        ("not json", False),
        ("[]", False),
        (_record().to_json().replace('"format": 1', '"format": 2'), False),
        (_record().to_json().replace("numpy==2.4.6", "numpy==1.26.4", 1), False),  # digest
        (json.dumps({"format": 1}), False),
    ],
)
def test_parse_record(text: str | None, ok: bool) -> None:
    parsed = provenance.parse_record(text)
    assert (parsed == _record()) if ok else parsed is None


@pytest.mark.parametrize(
    ("built", "wanted", "expected"),
    [
        (
            ("numpy==1.26.4", "cython==3.1"),
            ("numpy==2.4.6", "cython==3.1"),
            "built against numpy 1.26.4; the lock builds it against numpy 2.4.6",
        ),
        (
            ("cython==3.1",),
            ("cython==3.1", "numpy==2.4.6"),
            "built against nothing of those; the lock builds it against numpy 2.4.6",
        ),
        (
            ("cython==3.1", "x==1"),
            ("cython==3.1",),
            "built against x 1, which the lock does not put into its build environment",
        ),
    ],
)
def test_difference(built: tuple[str, ...], wanted: tuple[str, ...], expected: str) -> None:
    assert provenance.difference(built, wanted) == expected


def test_add_record_lists_it_in_record(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "in", "pyworld", "0.3.4")
    out = provenance.add_record(wheel, _record(), tmp_path / "out")
    assert provenance.read_wheel_record(out) == _record()
    with zipfile.ZipFile(out) as archive:
        record = archive.read("pyworld-0.3.4.dist-info/RECORD").decode()
    lines = record.splitlines()
    assert lines[-1] == "pyworld-0.3.4.dist-info/RECORD,,"
    assert any(x.startswith("pyworld-0.3.4.dist-info/lockbuild-build.json,sha256=") for x in lines)


def test_plan_jobs_orders_and_refuses_cycles() -> None:
    def pin(name: str) -> LockedPin:
        return LockedPin(canonicalize_name(name), "1", f"{name}==1", ())

    sdists = {
        canonicalize_name(n): buildjob.SdistPin(canonicalize_name(n), "1", f"{n}-1.tar.gz")
        for n in ("a", "b", "c")
    }
    envs = {"a": [pin("b"), pin("w")], "b": [pin("w")], "c": [pin("a")]}
    jobs = buildjob.plan_jobs([canonicalize_name("c")], sdists, lambda n: envs[n], lambda n: ())
    assert list(jobs) == ["b", "a", "c"]
    assert jobs[canonicalize_name("a")].environment == ("b==1", "w==1")
    envs["b"] = [pin("c")]
    with pytest.raises(BuildError, match="cycle: c -> a -> b -> c"):
        buildjob.plan_jobs([canonicalize_name("c")], sdists, lambda n: envs[n], lambda n: ())


def test_make_plan_judges_builds() -> None:
    def pin(name: str, version: str) -> LockedPin:
        return LockedPin(canonicalize_name(name), version, f"{name}=={version}", ())

    sha = "c" * 64
    lock = LockedFile(
        Path("requirements.txt"),
        {p.name: p for p in (pin("numpy", "2.4.6"), pin("pyworld", "0.3.4"))},
    )
    job = buildjob.BuildJob(
        buildjob.SdistPin(canonicalize_name("pyworld"), "0.3.4", "pyworld-0.3.4.tar.gz", sha),
        (pin("cython", "3.1"), pin("numpy", "2.4.6")),
    )

    def record(env: tuple[str, ...], sdist_sha: str = sha) -> provenance.BuildRecord:
        return provenance.BuildRecord("pyworld", "0.3.4", "pyworld-0.3.4.tar.gz", sdist_sha, env)

    cases: list[tuple[provenance.BuildRecord | None, str | None]] = [
        (record(("cython==3.1", "numpy==2.4.6")), None),
        (None, "rebuild pyworld 0.3.4: built outside lockbuild (no build record)"),
        (
            record(("cython==3.1", "numpy==1.26.4")),
            "rebuild pyworld 0.3.4: built against numpy 1.26.4; the lock builds it against "
            "numpy 2.4.6",
        ),
        (
            record(("cython==3.1", "numpy==2.4.6"), "d" * 64),
            "rebuild pyworld 0.3.4: built from another sdist (sha256 dddddddddddd…, the "
            "lock's is cccccccccccc…)",
        ),
    ]
    for built, expected in cases:
        env = interpreter.Environment(
            "/v/bin/python",
            "/v",
            True,
            (),
            (
                interpreter.Installed(canonicalize_name("numpy"), "2.4.6"),
                interpreter.Installed(canonicalize_name("pyworld"), "0.3.4", record=built),
            ),
        )
        plan = plans.make_plan(lock, env, (), {job.sdist.name: job})
        assert [c.describe() for c in plan.changes] == ([expected] if expected else [])
        # without the lock's build knowledge, versions alone decide (index wheels)
        assert plans.make_plan(lock, env).changes == ()
