"""Opt-in tests against the real public index (``make test-online``); never in make test."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.fixtures import isolated_env
from tests.helpers import DATA, ROOT, lockbuild, new_venv, pins, run

pytestmark = pytest.mark.online
EXAMPLE = ROOT / "examples" / "numpy-extension"


def test_numpy_extension_compiles_syncs_and_imports(tmp_path: Path) -> None:
    """pyworld is an sdist that build-requires numpy: after compile and sync it is built
    against the locked numpy, which is older than the newest, and imports."""
    env = isolated_env(tmp_path)
    shutil.copy(EXAMPLE / "requirements.in", tmp_path)
    lockbuild(["compile", "--cache-dir", str(tmp_path / "cache")], env, tmp_path)
    lock = pins(tmp_path / "requirements.txt")
    build = pins(tmp_path / "requirements-build.txt")
    assert lock["numpy"] == build["numpy"]
    assert {"cython", "setuptools"} <= set(build)
    python = new_venv(tmp_path / "venv", env, with_pip=True)
    lockbuild(["sync", "--python", python, "-q"], env, tmp_path)
    code = "import numpy, pyworld; print(numpy.__version__)"
    assert run([python, "-c", code], env).stdout.strip() == lock["numpy"]


def test_pins_match_pip_compile_on_a_wheel_stack(tmp_path: Path) -> None:
    env = isolated_env(tmp_path)
    (tmp_path / "requirements.in").write_text("requests\nclick\nrich\n")
    lockbuild(["compile", "--cache-dir", str(tmp_path / "cache")], env, tmp_path)
    mine = pins(tmp_path / "requirements.txt")
    (tmp_path / "pc").mkdir()
    shutil.copy(tmp_path / "requirements.in", tmp_path / "pc")
    pip_compile = str(Path(sys.executable).with_name("pip-compile"))
    run([pip_compile, "-q", "--strip-extras", "requirements.in"], env, cwd=tmp_path / "pc")
    assert mine == pins(tmp_path / "pc" / "requirements.txt")


def test_exclude_newer_date_gives_uvs_pins_on_trio(tmp_path: Path) -> None:
    """uv's benchmark input with a bare-date cut-off: lockbuild and ``uv pip compile``
    read the date alike (the whole day, local time) and pin the same versions."""
    env = {**isolated_env(tmp_path), "TZ": "UTC0"}
    source = DATA / "trio.in"
    shutil.copy(source, tmp_path / "requirements.in")
    cutoff = ["--exclude-newer", "2024-08-08"]
    lockbuild(["compile", "--cache-dir", str(tmp_path / "cache"), *cutoff], env, tmp_path)
    mine = pins(tmp_path / "requirements.txt")
    uv = str(Path(sys.executable).with_name("uv"))
    theirs_file = tmp_path / "uv.txt"
    run(
        [
            uv,
            "pip",
            "compile",
            "-q",
            "--python",
            sys.executable,
            *cutoff,
            "requirements.in",
            "-o",
            str(theirs_file),
        ],
        env,
        cwd=tmp_path,
    )
    theirs = pins(theirs_file)
    assert mine == theirs
    assert mine["babel"] == "2.16.0"  # uploaded on 2024-08-08 itself (the example)


def test_sync_rebuilds_pyworld_that_plain_pip_built_against_old_numpy(tmp_path: Path) -> None:
    """The case of issue 11: pip built pyworld 0.3.4 against numpy 1.26.4; the lock
    moves numpy to 2.x. One sync rebuilds pyworld against the locked numpy and it
    imports; a second sync does nothing."""
    env = isolated_env(tmp_path, LOCKBUILD_CACHE_DIR=str(tmp_path / "lb-cache"))
    python = new_venv(tmp_path / "venv", env, with_pip=True)
    pip = [python, "-m", "pip", "install", "-q"]
    run([*pip, "numpy==1.26.4"], env, timeout=1800)
    # plain pip, no build isolation: pyworld is built against the numpy 1.26.4 installed
    run([*pip, "cython", "setuptools", "wheel"], env)
    run([*pip, "--no-build-isolation", "--no-deps", "pyworld==0.3.4"], env, timeout=1800)
    assert run([python, "-c", "import pyworld"], env).returncode == 0

    (tmp_path / "requirements.in").write_text("numpy>=2\npyworld==0.3.4\n")
    lockbuild(["compile", "--cache-dir", str(tmp_path / "cache")], env, tmp_path)
    lock = pins(tmp_path / "requirements.txt")
    assert lock["numpy"].startswith("2.")
    proc = lockbuild(["sync", "--python", python, "--dry-run"], env, tmp_path)
    assert "would rebuild pyworld 0.3.4: built outside lockbuild (no build record)" in proc.stdout
    proc = lockbuild(["sync", "--python", python], env, tmp_path)
    assert "built pyworld 0.3.4 against" in proc.stdout and f"numpy=={lock['numpy']}" in proc.stdout
    code = "import numpy, pyworld; print(numpy.__version__)"
    assert run([python, "-c", code], env).stdout.strip() == lock["numpy"]
    proc = lockbuild(["sync", "--python", python], env, tmp_path)
    assert "nothing to do" in proc.stdout
    assert lockbuild(["sync", "--python", python, "--check"], env, tmp_path).returncode == 0


def test_pylock_from_the_public_index_installs_with_real_pip(tmp_path: Path) -> None:
    """trio.in locked into pylock.toml (sizes and upload times from the index's JSON
    pages), validated by packaging and installed by a current pip (-r pylock.toml)."""
    import tomllib

    from packaging.pylock import Pylock

    env = {**isolated_env(tmp_path), "TZ": "UTC0"}
    shutil.copy(DATA / "trio.in", tmp_path / "requirements.in")
    args = ["compile", "--cache-dir", str(tmp_path / "cache"), "--exclude-newer", "2024-08-08"]
    lockbuild([*args, "-o", "pylock.toml"], env, tmp_path)
    data = tomllib.loads((tmp_path / "pylock.toml").read_text())
    Pylock.from_dict(data)
    assert all(
        "size" in f and "upload-time" in f
        for p in data["packages"]
        for f in [*p.get("wheels", []), *([p["sdist"]] if "sdist" in p else [])]
    )
    wheelhouse = Path(sys.prefix) / "wheelhouse"
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env)
    python = str(venv / "bin" / "python")
    run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-index"]
        + ["--find-links", str(wheelhouse), "pip"],
        env,
    )
    run(
        [python, "-m", "pip", "install", "-q", "--build-constraint", "pylock.build.txt"]
        + ["-r", "pylock.toml"],
        env,
        cwd=tmp_path,
    )
    code = "import babel, sphinx; print(babel.__version__, sphinx.__version__)"
    assert run([python, "-c", code], env).stdout.split() == ["2.16.0", "6.1.3"]


def _yaml_compiles_syncs_and_imports(tmp_path: Path, *compile_extra: str) -> dict[str, str]:
    """PyYAML 5.4.1: Metadata-Version 2.1, so its backend runs to read metadata, and
    under Cython 3 its setup.py dies (``'build_ext' object has no attribute
    'cython_sources'``)."""
    env = isolated_env(tmp_path)
    (tmp_path / "requirements.in").write_text("pyyaml==5.4.1\n")
    args = ["compile", "--cache-dir", str(tmp_path / "cache"), "-q", *compile_extra]
    lockbuild(args, env, tmp_path)
    build = pins(tmp_path / "requirements-build.txt")
    assert build["cython"].startswith("0."), build
    python = new_venv(tmp_path / "venv", env, with_pip=True)
    lockbuild(["sync", "--python", python, "-q"], env, tmp_path)
    code = "import yaml; print(yaml.__version__)"
    assert run([python, "-c", code], env).stdout.strip() == "5.4.1"
    return build


def test_old_sdist_with_a_build_override(tmp_path: Path) -> None:
    (tmp_path / "overrides.txt").write_text("cython<3\n")
    _yaml_compiles_syncs_and_imports(tmp_path, "--build-constraint", "overrides.txt")


def test_old_sdist_with_build_deps_as_of_release(tmp_path: Path) -> None:
    build = _yaml_compiles_syncs_and_imports(tmp_path, "--build-deps-as-of-release")
    header = (tmp_path / "requirements-build.txt").read_text()
    assert "lockbuild-build-deps-as-of-release: on" in header
    # PyYAML 5.4.1 was uploaded in January 2021: no setuptools from a later year.
    assert int(build["setuptools"].split(".")[0]) <= 51, build


def test_build_deps_for_all_on_a_real_tree(tmp_path: Path) -> None:
    """A real tree whose sdists pin different releases of build-only tools (hatchling,
    flit-core, setuptools-scm, ...): every runtime pin is the plain lock's, the tools
    that cannot be shared get scoped environments, and a release is named not buildable
    only for a runtime pin or a project missing from the index."""
    env = isolated_env(tmp_path)
    text = "anthropic\nhttpx\npydantic\nattrs\njinja2\nrich\nsqlalchemy\npyyaml\npluggy\n"
    for name in ("plain", "all"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "requirements.in").write_text(text)
    cache = str(tmp_path / "cache")
    lockbuild(["compile", "-q", "--cache-dir", cache], env, tmp_path / "plain")
    proc = lockbuild(
        ["compile", "--build-deps-for", "all", "--cache-dir", cache], env, tmp_path / "all"
    )
    assert pins(tmp_path / "all" / "requirements.txt") == pins(
        tmp_path / "plain" / "requirements.txt"
    )
    build = (tmp_path / "all" / "requirements-build.txt").read_text()
    assert {"hatchling", "setuptools"} <= set(pins(tmp_path / "all" / "requirements-build.txt"))
    for line in build.splitlines():
        if line.startswith("# lockbuild-not-buildable: "):
            assert "(locked)" in line or "is not on the index" in line, line
    lockbuild(["check"], env, tmp_path / "all")
    print(proc.stderr)  # what it said, for a run by hand (-s)
