"""Exact build environments: dynamic build requirements, legacy sdists, other targets and
build overrides — checked against what real pip puts into the build environment."""

from __future__ import annotations

import io
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, IndexServer, isolated_env
from tests.helpers import compile_args, lockbuild, new_venv, pins, run, write

WHEELHOUSE = Path(sys.prefix) / "wheelhouse"


def _legacy_sdist(dest: Path) -> Path:
    """An sdist without pyproject.toml whose setup.py has setup_requires."""
    setup_py = (
        "from setuptools import setup\n"
        "setup(name='legacy', version='1.0', py_modules=['legacy'],\n"
        "      setup_requires=['buildhelper'], install_requires=['beta'])\n"
    )
    pkg_info = "Metadata-Version: 2.1\nName: legacy\nVersion: 1.0\n"
    files = {"setup.py": setup_py, "PKG-INFO": pkg_info, "legacy.py": "VALUE = 1\n"}
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "legacy-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"legacy-1.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    idx.wheel("buildhelper", "1.0")
    idx.wheel("beta", "1.0")
    idx.wheel("dynhelper", "1.0")
    idx.wheel("dynhelper", "2.0")
    # The backend adds 'dynhelper' at build time; static requirements say only buildhelper.
    idx.sdist(
        "dynpkg",
        "1.0",
        build_requires=["buildhelper"],
        dynamic_build_requires=["dynhelper<2"],
        record_build_versions=["dynhelper"],
    )
    # A dynamic requirement that is itself an sdist with build requirements: a 2nd round.
    idx.sdist("dyntool", "1.0", build_requires=["beta"])
    idx.sdist("deeppkg", "1.0", build_requires=["buildhelper"], dynamic_build_requires=["dyntool"])
    # Build overrides.
    idx.wheel("cythonish", "2.0")
    idx.wheel("cythonish", "3.0")
    idx.sdist("yamlish", "1.0", build_requires=["cythonish"], record_build_versions=["cythonish"])
    # A wheel for one platform only, and an sdist.
    idx.wheel("platpkg", "1.0", tag="py3-none-manylinux_2_17_x86_64")
    idx.sdist("platpkg", "1.0", build_requires=["buildhelper"])
    idx.wheel("py312only", "1.0", tag="cp312-none-any")
    idx.sdist("py312only", "1.0", build_requires=["buildhelper"])
    # Real setuptools (downloaded by make install) for the legacy sdist.
    setuptools = sorted(WHEELHOUSE.glob("setuptools-*.whl"))
    if not setuptools:
        pytest.fail(f"no setuptools wheel in {WHEELHOUSE}: run make install")
    idx.add(setuptools[-1])
    idx.add(_legacy_sdist(tmp_path_factory.mktemp("legacy")))
    idx.write()
    return idx


def _compile(
    tmp_path: Path, env: dict[str, str], url: str, text: str, *extra: str
) -> tuple[Path, Path]:
    write(tmp_path / "requirements.in", text)
    lockbuild(compile_args(url, tmp_path / "cache", *extra), env, tmp_path)
    return tmp_path / "requirements.txt", tmp_path / "requirements-build.txt"


def _recorded(python: str, module: str, name: str) -> dict[str, str]:
    """A dict the fixture backend recorded at build time, read from the installed file
    (importing the package would fail its ABI check: build-only deps are not installed)."""
    venv = Path(python).parent.parent
    (path,) = venv.glob(f"lib/python*/site-packages/{module}/_build_env.py")
    namespace: dict[str, dict[str, str]] = {}
    exec(path.read_text(), namespace)  # noqa: S102 - a file the fixture backend wrote
    return namespace[name]


def _build_env_of(python: str, module: str, env: dict[str, str]) -> dict[str, str]:
    return _recorded(python, module, "BUILD_ENV")


def _install(tmp_path: Path, env: dict[str, str], url: str, lock: Path, build: Path) -> str:
    python = new_venv(tmp_path / "venv", env)
    run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-cache-dir"]
        + ["--index-url", url, "--build-constraint", str(build), "-r", str(lock)],
        env,
    )
    return python


def test_dynamic_build_requirements_locked_and_used(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    lock, build = _compile(tmp_path, env, server.url, "dynpkg\n")
    assert pins(lock) == {"dynpkg": "1.0"}
    assert pins(build) == {"buildhelper": "1.0", "dynhelper": "1.0"}
    assert "# via dynpkg (build)" in build.read_text()
    python = _install(tmp_path, env, server.url, lock, build)
    received = _build_env_of(python, "dynpkg", env)
    # Every package the build environment really received is pinned, at that version.
    assert received == {k: v for k, v in pins(build).items() if k in received}
    assert {"buildhelper", "dynhelper"} <= set(received)


def test_no_build_hooks_locks_static_requirements_only(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    _, build = _compile(tmp_path, env, server.url, "dynpkg\n", "--no-build-hooks")
    assert pins(build) == {"buildhelper": "1.0"}
    assert "lockbuild-build-hooks: off" in build.read_text()


def test_second_round_for_dynamic_sdist_requirement(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    lock, build = _compile(tmp_path, env, server.url, "deeppkg\n")
    assert pins(build) == {"beta": "1.0", "buildhelper": "1.0", "dyntool": "1.0"}
    text = build.read_text()
    assert "deeppkg (build)" in text and "dyntool (build)" in text
    python = _install(tmp_path, env, server.url, lock, build)
    received = _build_env_of(python, "deeppkg", env)
    assert set(received) <= set(pins(build)), received


def test_legacy_sdist_locks_setuptools_and_setup_requires(
    tmp_path: Path, env: dict[str, str], server: IndexServer, index: FixtureIndex
) -> None:
    lock, build = _compile(tmp_path, env, server.url, "legacy\n")
    assert pins(lock) == {"legacy": "1.0", "beta": "1.0"}
    built = pins(build)
    assert set(built) == {"setuptools", "buildhelper"}
    setuptools = next(index.find_links.glob("setuptools-*.whl")).name.split("-")[1]
    assert built["setuptools"] == setuptools


def test_build_override_changes_build_version_and_is_annotated(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    _, build = _compile(tmp_path, env, server.url, "yamlish\n")
    assert pins(build) == {"cythonish": "3.0"}
    write(tmp_path / "overrides.txt", "cythonish<3\n")
    lock, build = _compile(
        tmp_path, env, server.url, "yamlish\n", "--build-constraint", "overrides.txt"
    )
    assert pins(build) == {"cythonish": "2.0"}
    assert "build override" in build.read_text()
    python = _install(tmp_path, env, server.url, lock, build)
    assert _recorded(python, "yamlish", "BUILT_AGAINST") == {"cythonish": "2.0"}


def test_build_override_from_tool_lockbuild(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "pyproject.toml", '[tool.lockbuild]\nbuild-constraints = ["cythonish<3"]\n')
    _, build = _compile(tmp_path, env, server.url, "yamlish\n")
    assert pins(build) == {"cythonish": "2.0"}


def test_platform_decides_wheel_or_sdist(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    _, build = _compile(
        tmp_path / "linux", env, server.url, "platpkg\n", "--platform", "manylinux_2_28_x86_64"
    )
    assert pins(build) == {}
    lock, build = _compile(
        tmp_path / "mac",
        env,
        server.url,
        "platpkg\n",
        "--platform",
        "macosx_11_0_arm64",
        "--python-version",
        "3.12",
    )
    assert pins(build) == {"buildhelper": "1.0"}
    header = lock.read_text()
    assert "lockbuild-target: cpython 3.12 macosx_11_0_arm64" in header


def _other_python() -> str | None:
    for name in ("python3.12", "python3.13", "python3.10"):
        for found in sorted(Path.home().glob(f".pyenv/versions/*/bin/{name}")):
            return str(found)
        path = shutil.which(name)
        if path:
            return path
    return None


def test_python_option_asks_that_interpreter(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    other = _other_python()
    if other is None:
        pytest.skip("no other CPython version on this machine")
    version = run([other, "-c", "import sys; print(sys.version_info[1])"], env).stdout.strip()
    lock, build = _compile(tmp_path, env, server.url, "py312only\n", "--python", other)
    assert f"3.{version}" in lock.read_text().split("lockbuild-target:")[1].splitlines()[0]
    expected = {} if version == "12" else {"buildhelper": "1.0"}
    assert pins(build) == expected
    _, build = _compile(tmp_path / "here", env, server.url, "py312only\n")
    here = {} if sys.version_info[:2] == (3, 12) else {"buildhelper": "1.0"}
    assert pins(build) == here


def test_build_deps_for_all(tmp_path: Path, env: dict[str, str], server: IndexServer) -> None:
    _, build = _compile(
        tmp_path, env, server.url, "platpkg\n", "--platform", "manylinux_2_28_x86_64"
    )
    assert pins(build) == {}
    _, build = _compile(
        tmp_path,
        env,
        server.url,
        "platpkg\n",
        "--platform",
        "manylinux_2_28_x86_64",
        "--build-deps-for",
        "all",
    )
    assert pins(build) == {"buildhelper": "1.0"}


def test_verbose_explains_build_side(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "dynpkg\n")
    args = compile_args(server.url, tmp_path / "cache")
    args = [a for a in args if a != "-q"] + ["-v"]
    proc = lockbuild(args, env, tmp_path)
    assert "dynpkg 1.0: build backend lbbackend" in proc.stderr
    assert "static build requirements: buildhelper" in proc.stderr
    assert "dynamic (get_requires_for_build_wheel): dynhelper<2" in proc.stderr
    assert "dynhelper==1.0  <- dynhelper<2" in proc.stderr


def test_setup_py_project_as_input(
    tmp_path: Path, env: dict[str, str], server: IndexServer, index: FixtureIndex
) -> None:
    """A setup.py project is read through the PEP 517 hooks (setuptools' legacy backend);
    it is built from source, so setuptools and its setup_requires land in the build file."""
    write(
        tmp_path / "setup.py",
        "from setuptools import setup\n"
        "setup(name='oldstyle', version='2.0', py_modules=[],\n"
        "      install_requires=['beta'], setup_requires=['buildhelper'])\n",
    )
    lockbuild(compile_args(server.url, tmp_path / "cache", "setup.py"), env, tmp_path)
    assert pins(tmp_path / "requirements.txt") == {"beta": "1.0"}
    assert set(pins(tmp_path / "requirements-build.txt")) == {"setuptools", "buildhelper"}
    assert "# via oldstyle (setup.py)" in (tmp_path / "requirements.txt").read_text()


def test_hook_environments_filled_by_pip_when_uv_is_not_wanted(
    tmp_path: Path, server: IndexServer
) -> None:
    """The same locks when pip, not uv, fills the hook environments (as for a user who
    has no uv): a dynamic requirement, a second round, and a legacy sdist."""
    env = isolated_env(tmp_path, LOCKBUILD_HOOK_INSTALLER="pip")
    lock, build = _compile(tmp_path, env, server.url, "dynpkg\ndeeppkg\nlegacy\n")
    assert pins(build) == {
        "beta": "1.0",
        "buildhelper": "1.0",
        "dynhelper": "1.0",
        "dyntool": "1.0",
        "setuptools": pins(build)["setuptools"],
    }
    assert pins(lock) == {"dynpkg": "1.0", "deeppkg": "1.0", "legacy": "1.0", "beta": "1.0"}
