"""Replaying a compile: an identical run whose index pages are all unchanged reuses the
earlier result; any change to a page, an input, an existing output or an option
resolves again; runs that read local things are never replayed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.fixtures import FixtureIndex, IndexServer
from tests.helpers import compile_args, lockbuild, pins, write

REUSED = "its result is reused"


def _index(root: Path) -> FixtureIndex:
    idx = FixtureIndex(root)
    idx.wheel("alpha", "1.0", requires_dist=["beta"])
    idx.wheel("beta", "1.0")
    idx.wheel("abicore", "1.0")
    idx.sdist("abiext", "1.0", build_requires=["abicore"], requires_dist=["abicore"])
    idx.write()
    return idx


def _compile(server: IndexServer, cache: Path, env: dict[str, str], cwd: Path, *extra: str) -> str:
    """Compile (not quiet) and return what it said."""
    args = [a for a in compile_args(server.url, cache, *extra) if a != "-q"]
    return lockbuild(args, env, cwd).stderr


def _paths(server: IndexServer) -> list[str]:
    return [path for _, path in server.requests]


def test_identical_run_is_replayed_and_writes_the_same(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _index(tmp_path / "idx")
    write(tmp_path / "requirements.in", "alpha\nabiext\n")
    cache = tmp_path / "cache"
    with IndexServer(idx.root) as server:
        assert REUSED not in _compile(server, cache, env, tmp_path)
        # The second run starts from the first run's outputs: a new key, resolved again.
        assert REUSED not in _compile(server, cache, env, tmp_path)
        resolved = {
            p: (tmp_path / p).read_bytes() for p in ("requirements.txt", "requirements-build.txt")
        }
        server.clear()
        said = _compile(server, cache, env, tmp_path)
        assert REUSED in said
        # Only the pages were asked for (to compare them), nothing else.
        asked = _paths(server)
        assert asked and all(p.startswith("/simple/") for p in asked)
        for name, data in resolved.items():
            assert (tmp_path / name).read_bytes() == data
        # --no-replay resolves and writes the very same files.
        server.clear()
        assert REUSED not in _compile(server, cache, env, tmp_path, "--no-replay")
        for name, data in resolved.items():
            assert (tmp_path / name).read_bytes() == data


def test_same_files_in_another_directory_are_replayed(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _index(tmp_path / "idx")
    cache = tmp_path / "cache"
    with IndexServer(idx.root) as server:
        outputs = []
        for n in range(2):
            work = tmp_path / f"checkout{n}"
            write(work / "requirements.in", "alpha\n")
            write(work / "more.in", "-r requirements.in\nabiext\n")
            said = _compile(server, cache, env, work, "more.in")
            assert (REUSED in said) == (n == 1)
            outputs.append((work / "more.txt").read_text())
        assert outputs[0] == outputs[1]


def test_changed_page_input_or_lockfile_resolves_again(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _index(tmp_path / "idx")
    write(tmp_path / "requirements.in", "alpha\n")
    cache = tmp_path / "cache"
    lockfile = tmp_path / "requirements.txt"
    with IndexServer(idx.root) as server:
        _compile(server, cache, env, tmp_path)
        _compile(server, cache, env, tmp_path)
        assert REUSED in _compile(server, cache, env, tmp_path)

        # With no earlier outputs (so no preferred pins), a run is recorded and replayed...
        lockfile.unlink()
        _compile(server, cache, env, tmp_path)
        lockfile.unlink()
        assert REUSED in _compile(server, cache, env, tmp_path)
        assert pins(lockfile)["beta"] == "1.0"
        # ...until a new release changes beta's page: the same command resolves again
        # and sees it.
        idx.wheel("beta", "1.1")
        idx.write()
        lockfile.unlink()
        assert REUSED not in _compile(server, cache, env, tmp_path)
        assert pins(lockfile)["beta"] == "1.1"

        # A changed input.
        _compile(server, cache, env, tmp_path)
        write(tmp_path / "requirements.in", "alpha\nbeta==1.0\n")
        assert REUSED not in _compile(server, cache, env, tmp_path)
        assert pins(lockfile)["beta"] == "1.0"

        # A hand-edited lockfile: its pins are preferences, so the run is not the same.
        write(tmp_path / "requirements.in", "alpha\n")
        _compile(server, cache, env, tmp_path)  # from the lockfile of the other input
        _compile(server, cache, env, tmp_path)  # from its own lockfile: recorded
        assert REUSED in _compile(server, cache, env, tmp_path)
        lockfile.write_text(lockfile.read_text().replace("beta==1.0", "beta==1.1"))
        assert REUSED not in _compile(server, cache, env, tmp_path)
        assert pins(lockfile)["beta"] == "1.1"

        # Another result-shaping option.
        assert REUSED not in _compile(server, cache, env, tmp_path, "--generate-hashes")


def test_project_gone_from_the_index_resolves_again(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _index(tmp_path / "idx")
    write(tmp_path / "requirements.in", "alpha\n")
    cache = tmp_path / "cache"
    with IndexServer(idx.root) as server:
        _compile(server, cache, env, tmp_path)
        _compile(server, cache, env, tmp_path)
        shutil.rmtree(idx.root / "simple" / "beta")
        proc = lockbuild(compile_args(server.url, cache), env, tmp_path, check=False)
        assert proc.returncode == 1
        assert REUSED not in proc.stderr
        assert proc.stderr.splitlines() == [
            "lockbuild: error: cannot resolve: no distributions of beta found on any index "
            "or find-links:",
            "  alpha 1.0 requires beta",
        ]


def test_corrupted_record_is_ignored(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _index(tmp_path / "idx")
    write(tmp_path / "requirements.in", "alpha\n")
    cache = tmp_path / "cache"
    with IndexServer(idx.root) as server:
        _compile(server, cache, env, tmp_path)
        _compile(server, cache, env, tmp_path)
        records = [p for p in (cache / "resolutions").rglob("*") if p.is_file()]
        assert records
        for record in records:
            data = json.loads(record.read_text())
            data["payload"]["result"]["lockfile_text"] = "evil==6.6.6\n"
            record.write_text(json.dumps(data))
        expected = (tmp_path / "requirements.txt").read_text()
        assert REUSED not in _compile(server, cache, env, tmp_path)
        assert (tmp_path / "requirements.txt").read_text() == expected


def test_local_things_are_never_replayed(tmp_path: Path, env: dict[str, str]) -> None:
    idx = _index(tmp_path / "idx")
    cache = tmp_path / "cache"
    links = tmp_path / "links"
    links.mkdir()
    shutil.copy(next(idx.dists_dir.glob("beta-1.0-*.whl")), links)
    project = tmp_path / "proj"
    write(
        project / "pyproject.toml",
        '[project]\nname = "proj"\nversion = "1.0"\ndependencies = ["alpha"]\n'
        '[build-system]\nrequires = ["abicore"]\nbuild-backend = "tiny"\n'
        'backend-path = ["."]\n',
    )
    write(
        project / "tiny.py",
        "def get_requires_for_build_wheel(config_settings=None):\n    return []\n",
    )
    with IndexServer(idx.root) as server:
        write(tmp_path / "requirements.in", "alpha\n")
        for _ in range(3):
            said = _compile(server, cache, env, tmp_path, "--find-links", str(links))
            assert REUSED not in said
        write(tmp_path / "requirements.in", "./proj\n")
        for _ in range(3):
            assert REUSED not in _compile(server, cache, env, tmp_path)
        assert "alpha" in pins(tmp_path / "requirements.txt")


def test_a_run_that_resolves_anyway_fetches_the_recorded_pages_ahead(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """--no-replay with a record of an identical run: the pages that run read are
    fetched from the start, even one this resolution turns out not to need."""
    idx = FixtureIndex(tmp_path / "idx")
    idx.wheel("alpha", "1.0", requires_dist=["beta"])
    idx.wheel("beta", "1.0")
    idx.write()
    write(tmp_path / "requirements.in", "alpha\n")
    cache = tmp_path / "cache"
    outputs = [tmp_path / "requirements.txt", tmp_path / "requirements-build.txt"]
    with IndexServer(idx.root) as server:
        _compile(server, cache, env, tmp_path)
        assert pins(outputs[0]) == {"alpha": "1.0", "beta": "1.0"}
        for path in outputs:
            path.unlink()  # the same run again (existing outputs are part of its key)
        idx.wheel("alpha", "2.0")  # needs nothing: beta is not part of the new lock
        idx.write()
        # alpha's page is slow: the recorded beta page is asked for meanwhile.
        server.faults["/simple/alpha/"] = ("delay", 0.5)
        server.clear()
        said = _compile(server, cache, env, tmp_path, "--no-replay")
        assert REUSED not in said
        assert pins(outputs[0]) == {"alpha": "2.0"}
        assert "/simple/beta/" in _paths(server)


def test_the_existing_lockfiles_pins_are_fetched_ahead(tmp_path: Path, env: dict[str, str]) -> None:
    """After an input is edited (no replay: another key), the pages of the pins in the
    existing lockfile are asked for from the start, even one the new lock drops."""
    idx = FixtureIndex(tmp_path / "idx")
    idx.wheel("alpha", "1.0", requires_dist=["beta"])
    idx.wheel("beta", "1.0")
    idx.wheel("gamma", "1.0")
    idx.write()
    write(tmp_path / "requirements.in", "alpha\n")
    cache = tmp_path / "cache"
    with IndexServer(idx.root) as server:
        _compile(server, cache, env, tmp_path)
        assert pins(tmp_path / "requirements.txt") == {"alpha": "1.0", "beta": "1.0"}
        write(tmp_path / "requirements.in", "gamma\n")
        server.faults["/simple/gamma/"] = ("delay", 0.5)
        server.clear()
        _compile(server, cache, env, tmp_path)
        assert pins(tmp_path / "requirements.txt") == {"gamma": "1.0"}
        assert "/simple/beta/" in _paths(server)
