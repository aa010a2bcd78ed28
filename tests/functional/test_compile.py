"""Scenario tests: the lockbuild CLI against a generated index, with real pip checking
that the lock pair does what it says."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from tests.fixtures import FixtureIndex, IndexServer, add_abi_scenario, isolated_env
from tests.helpers import compile_args, lockbuild, new_venv, pins, run, write


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    # The ABI scenario.
    add_abi_scenario(idx)
    # A newer release whose build requirements conflict with the runtime pin.
    idx.wheel("corelib", "1.5")
    idx.wheel("corelib", "2.0")
    idx.sdist("extmod", "1.0", build_requires=["corelib"], requires_dist=["corelib"])
    idx.sdist("extmod", "2.0", build_requires=["corelib>=2"], requires_dist=["corelib"])
    # Build requirements that are themselves sdists with build requirements.
    idx.sdist("app", "1.0", build_requires=["buildtool>=1"])
    idx.sdist("buildtool", "1.0", build_requires=["buildhelper"], requires_dist=["helperlib"])
    idx.wheel("buildhelper", "1.0")
    idx.wheel("helperlib", "3.0")
    # Wheels only, with markers and extras.
    idx.wheel("alpha", "1.0", requires_dist=["beta>=1", 'epsilon; python_version < "3"'])
    idx.wheel("beta", "1.0")
    idx.wheel("beta", "1.1")
    idx.wheel("gamma", "1.0", extras=["fast"], requires_dist=['delta; extra == "fast"'])
    idx.wheel("delta", "1.0")
    idx.wheel("epsilon", "1.0")
    # Yanked and requires-python.
    idx.wheel("yanky", "1.0")
    idx.wheel("yanky", "2.0")
    idx.yank("yanky-2.0-py3-none-any.whl", "broken release")
    idx.wheel("rp", "1.0", requires_python=">=3.8")
    idx.wheel("rp", "2.0", requires_python=">=3.99")
    # An sdist whose runtime metadata is dynamic: only the PEP 517 hook knows it.
    idx.sdist("dyn", "1.0", requires_dist=["beta"], dynamic=["Requires-Dist"])
    idx.sdist("oldmeta", "1.0", requires_dist=["delta"], metadata_version="2.1")
    # A release with both a wheel and an sdist.
    idx.wheel("both", "1.0")
    idx.sdist("both", "1.0", build_requires=["buildhelper"])
    idx.write()
    return idx


def compile_in(
    tmp_path: Path, env: dict[str, str], url: str, text: str, *extra: str, check: bool = True
) -> tuple[Path, Path, str]:
    write(tmp_path / "requirements.in", text)
    proc = lockbuild(compile_args(url, tmp_path / "cache", *extra), env, tmp_path, check=check)
    return tmp_path / "requirements.txt", tmp_path / "requirements-build.txt", proc.stderr


def test_abi_scenario_same_version_in_both_files(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    lock, build, _ = compile_in(tmp_path, env, server.url, "abicore==1.0\nabiext\n")
    assert pins(lock) == {"abicore": "1.0", "abiext": "1.0"}
    assert pins(build) == {"abicore": "1.0"}
    text = build.read_text()
    assert "abiext (build)" in text
    assert "--build-constraint requirements-build.txt" in text
    assert "uv pip install --build-constraints requirements-build.txt" in text


def _import_abiext(python: str, env: dict[str, str]) -> tuple[int, str]:
    proc = run([python, "-c", "import abiext; print(abiext.BUILT_AGAINST)"], env, check=False)
    return proc.returncode, proc.stdout + proc.stderr


def test_abi_scenario_with_real_pip(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    """Plain pip builds abiext against abicore 2.0 and breaks; the lock pair fixes it on
    both the --build-constraint route (new pip) and the PIP_CONSTRAINT route (old pip)."""
    lock, build, _ = compile_in(tmp_path, env, server.url, "abicore==1.0\nabiext\n")
    pip = [sys.executable, "-m", "pip"]
    index = ["--index-url", server.url, "--no-cache-dir"]

    broken = new_venv(tmp_path / "broken", env)
    run([*pip, "--python", broken, "install", *index, "-r", "requirements.in"], env, cwd=tmp_path)
    code, output = _import_abiext(broken, env)
    assert code != 0 and "size changed" in output

    fixed = new_venv(tmp_path / "fixed", env)
    run(
        [*pip, "--python", fixed, "install", *index, "--build-constraint", str(build)]
        + ["-r", str(lock)],
        env,
    )
    code, output = _import_abiext(fixed, env)
    assert code == 0, output
    assert "'abicore': '1.0'" in output

    # The pip a new venv gets from this Python's ensurepip predates --build-constraint.
    old = new_venv(tmp_path / "old", env, with_pip=True)
    version = run([old, "-m", "pip", "--version"], env).stdout.split()[1]
    assert tuple(int(x) for x in version.split(".")[:2]) < (25, 3)
    run(
        [old, "-m", "pip", "install", *index, "-r", str(lock)],
        {**env, "PIP_CONSTRAINT": str(build)},
    )
    code, output = _import_abiext(old, env)
    assert code == 0, output
    assert "'abicore': '1.0'" in output


def test_backtracks_over_release_whose_build_requirements_conflict(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    lock, build, _ = compile_in(tmp_path, env, server.url, "corelib==1.5\nextmod\n")
    assert pins(lock) == {"corelib": "1.5", "extmod": "1.0"}
    assert pins(build) == {"corelib": "1.5"}


def test_conflict_names_each_requirement_and_writes_nothing(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    lock, build, stderr = compile_in(
        tmp_path, env, server.url, "corelib==1.5\nextmod==2.0\n", check=False
    )
    assert "extmod 2.0 (build) requires corelib>=2" in stderr
    assert "requirements.in line 1: corelib==1.5" in stderr
    assert "Traceback" not in stderr
    assert not lock.exists() and not build.exists()


def test_conflict_exit_code_and_existing_files_untouched(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    lock, build, _ = compile_in(tmp_path, env, server.url, "corelib==1.5\n")
    before = (lock.read_bytes(), build.read_bytes())
    write(tmp_path / "requirements.in", "corelib==1.5\nextmod==2.0\n")
    proc = lockbuild(compile_args(server.url, tmp_path / "cache"), env, tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "lockbuild: error: cannot resolve: conflicting requirements for corelib:",
        "  requirements.in line 1: corelib==1.5",
        "  extmod 2.0 requires corelib",
        "  extmod 2.0 (build) requires corelib>=2",
    ]
    assert (lock.read_bytes(), build.read_bytes()) == before


def test_recursive_build_dependencies(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    lock, build, _ = compile_in(tmp_path, env, server.url, "app\n")
    assert pins(lock) == {"app": "1.0"}
    # buildtool is an sdist in app's build environment; it needs buildhelper to build
    # and helperlib at run time (inside app's build environment).
    assert pins(build) == {"buildhelper": "1.0", "buildtool": "1.0", "helperlib": "3.0"}
    text = build.read_text()
    assert "# via app (build)" in text
    assert "# via buildtool (build)" in text
    assert "# via buildtool\n" in text


def test_wheel_only_input_writes_empty_build_file(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    lock, build, _ = compile_in(tmp_path, env, server.url, "alpha\ngamma[fast]\n")
    assert pins(lock) == {"alpha": "1.0", "beta": "1.1", "gamma": "1.0", "delta": "1.0"}
    assert build.exists() and pins(build) == {}
    assert "epsilon" not in lock.read_text()
    assert "# via gamma" in lock.read_text()


def test_markers_on_inputs(tmp_path: Path, env: dict[str, str], server: IndexServer) -> None:
    lock, _, _ = compile_in(
        tmp_path,
        env,
        server.url,
        'beta==1.0 ; python_version >= "3"\nepsilon ; sys_platform == "nonesuch"\n',
    )
    assert pins(lock) == {"beta": "1.0"}


def test_yanked_release_skipped_unless_pinned(
    tmp_path: Path, env: dict[str, str], index: FixtureIndex
) -> None:
    lock, _, _ = compile_in(tmp_path, env, index.url, "yanky\n")
    assert pins(lock) == {"yanky": "1.0"}
    lock, _, _ = compile_in(tmp_path, env, index.url, "yanky==2.0\n")
    assert pins(lock) == {"yanky": "2.0"}


def test_requires_python_honored(tmp_path: Path, env: dict[str, str], server: IndexServer) -> None:
    lock, _, _ = compile_in(tmp_path, env, server.url, "rp\n")
    assert pins(lock) == {"rp": "1.0"}


def test_dynamic_metadata_read_through_the_build_backend(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    lock, build, _ = compile_in(tmp_path, env, server.url, "dyn\noldmeta\n")
    assert pins(lock) == {"dyn": "1.0", "beta": "1.1", "oldmeta": "1.0", "delta": "1.0"}
    assert "# via dyn" in lock.read_text()
    assert pins(build) == {}


def test_rerun_is_byte_identical_and_transport_independent(
    tmp_path: Path, env: dict[str, str], server: IndexServer, index: FixtureIndex
) -> None:
    text = "abicore==1.0\nabiext\nalpha\ngamma[fast]\napp\n"
    lock, build, _ = compile_in(tmp_path, env, server.url, text)
    first = (lock.read_bytes(), build.read_bytes())
    lockbuild(compile_args(server.url, tmp_path / "cache2"), env, tmp_path)
    assert (lock.read_bytes(), build.read_bytes()) == first
    # The same pins through PEP 503 pages over file:// as through PEP 691 JSON over HTTP.
    other = tmp_path / "other"
    lock2, build2, _ = compile_in(other, env, index.url, text)
    assert pins(lock2) == pins(lock) and pins(build2) == pins(build)


def test_existing_pins_are_preferences(tmp_path: Path, env: dict[str, str]) -> None:
    idx = FixtureIndex(tmp_path / "idx")
    idx.wheel("beta", "1.0")
    idx.wheel("zeta", "1.0")
    idx.write()
    lock, _, _ = compile_in(tmp_path, env, idx.url, "beta\nzeta\n")
    assert pins(lock) == {"beta": "1.0", "zeta": "1.0"}
    idx.wheel("beta", "2.0")
    idx.wheel("zeta", "2.0")
    idx.write()
    args = compile_args(idx.url, tmp_path / "cache")
    lockbuild(args, env, tmp_path)
    assert pins(lock) == {"beta": "1.0", "zeta": "1.0"}
    lockbuild([*args, "-P", "beta"], env, tmp_path)
    assert pins(lock) == {"beta": "2.0", "zeta": "1.0"}
    lockbuild([*args, "-P", "beta==1.0"], env, tmp_path)
    assert pins(lock) == {"beta": "1.0", "zeta": "1.0"}
    lockbuild([*args, "--upgrade"], env, tmp_path)
    assert pins(lock) == {"beta": "2.0", "zeta": "2.0"}


def test_pins_equal_pip_compile(tmp_path: Path, env: dict[str, str], server: IndexServer) -> None:
    """pip-compile as an oracle on a wheel-only input."""
    text = "alpha\ngamma[fast]\nyanky\nrp\ncorelib<2\n"
    lock, _, _ = compile_in(tmp_path / "lb", env, server.url, text)
    write(tmp_path / "pc" / "requirements.in", text)
    pip_compile = str(Path(sys.executable).with_name("pip-compile"))
    run(
        [pip_compile, "-q", "--index-url", server.url, "--cache-dir", str(tmp_path / "pcc")]
        + ["--strip-extras", "requirements.in"],
        env,
        cwd=tmp_path / "pc",
    )
    assert pins(lock) == pins(tmp_path / "pc" / "requirements.txt")


def test_only_binary_and_no_binary(
    tmp_path: Path, env: dict[str, str], server: IndexServer
) -> None:
    _, _, stderr = compile_in(
        tmp_path, env, server.url, "abiext\n", "--only-binary", ":all:", check=False
    )
    assert "no version of abiext" in stderr and "Traceback" not in stderr
    lock, build, _ = compile_in(tmp_path, env, server.url, "both\n")
    assert pins(lock) == {"both": "1.0"} and pins(build) == {}
    lock, build, _ = compile_in(tmp_path, env, server.url, "both\n", "--no-binary", "both")
    assert pins(lock) == {"both": "1.0"} and pins(build) == {"buildhelper": "1.0"}
    assert "--no-binary both" in lock.read_text()


def test_options_written_with_credentials_redacted(
    tmp_path: Path, env: dict[str, str], index: FixtureIndex
) -> None:
    links = tmp_path / "links"
    links.mkdir()
    write(
        tmp_path / "requirements.in",
        "--extra-index-url https://user:s3cret@127.0.0.1:9/simple/\nbeta==1.0\n",
    )
    shutil.copy(index.find_links / "beta-1.0-py3-none-any.whl", links)
    lockbuild(
        ["compile", "--no-index", "--find-links", str(links), "--cache-dir", str(tmp_path / "c")],
        env,
        tmp_path,
    )
    text = (tmp_path / "requirements.txt").read_text()
    assert "s3cret" not in text
    assert "--find-links links" in text
    assert pins(tmp_path / "requirements.txt") == {"beta": "1.0"}


def test_output_file_names(tmp_path: Path, env: dict[str, str], server: IndexServer) -> None:
    write(tmp_path / "dev.in", "beta==1.0\n")
    lockbuild(
        compile_args(server.url, tmp_path / "cache", "dev.in", "-o", "out/dev.txt"),
        env,
        tmp_path,
    )
    assert (tmp_path / "out" / "dev.txt").exists()
    assert (tmp_path / "out" / "dev-build.txt").exists()
    lockbuild(
        compile_args(server.url, tmp_path / "cache", "dev.in", "--build-output-file", "b.txt"),
        env,
        tmp_path,
    )
    assert (tmp_path / "dev.txt").exists() and (tmp_path / "b.txt").exists()


def test_direct_reference_and_editable_local_project(
    tmp_path: Path, env: dict[str, str], server: IndexServer, index: FixtureIndex
) -> None:
    wheel = index.find_links / "abicore-1.0-py3-none-any.whl"
    write(
        tmp_path / "proj" / "pyproject.toml",
        '[build-system]\nrequires = ["buildhelper"]\nbuild-backend = "mini"\n'
        'backend-path = ["."]\n[project]\nname = "localproj"\nversion = "0.3"\n'
        'dependencies = ["beta==1.0"]\n',
    )
    write(
        tmp_path / "proj" / "mini.py",
        "def get_requires_for_build_wheel(config_settings=None):\n    return []\n",
    )
    lock, build, _ = compile_in(
        tmp_path, env, server.url, f"abicore @ {wheel.as_uri()}\nabiext\n-e ./proj\n"
    )
    text = lock.read_text()
    assert f"abicore @ {wheel.as_uri()}" in text
    assert f"-e {(tmp_path / 'proj').as_uri()}#egg=localproj" in text
    assert pins(build) == {"abicore": "1.0", "buildhelper": "1.0"}
    assert "beta==1.0" in text
    # The pair's digests agree, as check (and sync's guard) read them.
    proc = lockbuild(
        ["check", "--index-url", server.url, "--cache-dir", str(tmp_path / "cache")],
        env,
        tmp_path,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_pip_configuration_is_honored_for_index_locations(
    tmp_path: Path, server: IndexServer, index: FixtureIndex
) -> None:
    """Index locations come from pip's configuration as pip-compile reads them (a config
    file and PIP_* variables), are written into the lockfile, and the command line wins."""
    config = write(tmp_path / "pip.conf", f"[global]\nindex-url = {server.url}\n")
    links = tmp_path / "links"
    links.mkdir()
    shutil.copy(index.find_links / "beta-1.0-py3-none-any.whl", links)
    env = isolated_env(tmp_path, PIP_CONFIG_FILE=str(config), PIP_FIND_LINKS=str(links))
    write(tmp_path / "requirements.in", "alpha\n")
    lockbuild(["compile", "-q", "--cache-dir", str(tmp_path / "c")], env, tmp_path)
    text = (tmp_path / "requirements.txt").read_text()
    assert f"--index-url {server.url}" in text
    assert "--find-links links" in text
    assert pins(tmp_path / "requirements.txt") == {"alpha": "1.0", "beta": "1.1"}
    lockbuild(
        ["compile", "-q", "--cache-dir", str(tmp_path / "c"), "--index-url", index.url],
        env,
        tmp_path,
    )
    assert f"--index-url {index.url}" in (tmp_path / "requirements.txt").read_text()


def test_changed_pip_configuration_is_seen_by_the_next_run(
    tmp_path: Path, server: IndexServer, index: FixtureIndex
) -> None:
    """pip's configuration is kept in the cache between runs; editing a file pip reads
    (or creating one it looks for) is seen at once."""
    config = write(tmp_path / "pip.conf", "[global]\nindex-url = http://127.0.0.1:9/simple/\n")
    env = isolated_env(tmp_path, PIP_CONFIG_FILE=str(config))
    write(tmp_path / "requirements.in", "alpha\n")
    args = ["compile", "-q", "--cache-dir", str(tmp_path / "c")]
    first = lockbuild(args, env, tmp_path, check=False)
    assert first.returncode == 1
    assert first.stderr == (  # nothing listens there
        "lockbuild: error: http://127.0.0.1:9/simple/alpha/: connection refused (tried 4 times)\n"
    )
    assert list((tmp_path / "c" / "pip-config").rglob("*"))
    write(tmp_path / "pip.conf", f"[global]\nindex-url = {server.url}\n")
    lockbuild(args, env, tmp_path)
    assert f"--index-url {server.url}" in (tmp_path / "requirements.txt").read_text()
    # A user config file pip looks for but that did not exist yet.
    home = tmp_path / "home"
    env = isolated_env(tmp_path, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"))
    env.pop("PIP_CONFIG_FILE", None)
    args = [*args, "--index-url", server.url]  # never the default index, stale or not
    lockbuild(args, env, tmp_path)
    assert "--extra-index-url" not in (tmp_path / "requirements.txt").read_text()
    write(home / ".config" / "pip" / "pip.conf", f"[global]\nextra-index-url = {index.url}\n")
    lockbuild(args, env, tmp_path)
    assert f"--extra-index-url {index.url}" in (tmp_path / "requirements.txt").read_text()
