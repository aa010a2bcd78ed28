"""--exclude-newer and [tool.lockbuild] exclude-newer against a real loopback index: whole
days, exact timestamps, relative cut-offs, check, and replay across a moving cut-off."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from lockbuild import cutoff
from lockbuild.cli import replay
from lockbuild.cli.main import main
from tests.fixtures import FixtureIndex, IndexServer
from tests.helpers import compile_args, lockbuild, pins, run, write

NOW = datetime.now(UTC)
# timely 3.0 was uploaded three days ago: "7 days" leaves it out, "1 day" keeps it.
RECENT = (NOW - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _times(idx: FixtureIndex, name: str, times: dict[str, str]) -> None:
    for version, when in times.items():
        idx.wheel(name, version)
        idx.upload_time(f"{name}-{version}-py3-none-any.whl", when)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> FixtureIndex:
    idx = FixtureIndex(tmp_path_factory.mktemp("index"))
    # 2.0 came out at 20:00 UTC on 2024-06-01: inside that day in UTC, the next day in Tokyo.
    _times(
        idx, "timely", {"1.0": "2024-01-01T00:00:00Z", "2.0": "2024-06-01T20:00:00Z", "3.0": RECENT}
    )
    idx.write()
    return idx


@pytest.fixture()
def tz_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "TZ": "UTC0"}


def _lock(
    tmp_path: Path, env: dict[str, str], url: str, *extra: str, check: bool = True
) -> tuple[dict[str, str], str, int]:
    proc = lockbuild(
        compile_args(url, tmp_path / "cache", "--upgrade", *extra), env, tmp_path, check=check
    )
    lock = tmp_path / "requirements.txt"
    return (pins(lock) if lock.exists() else {}), proc.stderr, proc.returncode


@pytest.mark.parametrize(
    ("cutoff", "tz", "expected"),
    [
        ("2024-06-01", "UTC0", "2.0"),  # the whole day, 20:00 included
        ("2024-06-01", "JST-9", "1.0"),  # that day in Tokyo ended at 15:00 UTC
        ("2024-05-31", "UTC0", "1.0"),
        ("2024-06-01T20:00:00Z", "UTC0", "1.0"),  # exact: an upload at the cut-off is out
        ("2024-06-01T20:00:01Z", "JST-9", "2.0"),
        ("2024-06-01T20:00:01", "UTC0", "2.0"),  # no offset: local time
        ("2024-06-01T20:00:01", "JST-9", "1.0"),  # 20:00:01 in Tokyo is 11:00:01 UTC
    ],
)
def test_dates_and_timestamps(
    tmp_path: Path, env: dict[str, str], server: IndexServer, cutoff: str, tz: str, expected: str
) -> None:
    write(tmp_path / "requirements.in", "timely\n")
    found, _, _ = _lock(tmp_path, {**env, "TZ": tz}, server.url, "--exclude-newer", cutoff)
    assert found == {"timely": expected}
    text = (tmp_path / "requirements.txt").read_text()
    assert f"# lockbuild-exclude-newer: {cutoff}\n" in text


def test_relative_cutoff_is_recorded_as_written_and_checked_as_written(
    tmp_path: Path, tz_env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "timely\n")
    found, _, _ = _lock(tmp_path, tz_env, server.url, "--exclude-newer", "7 days")
    assert found == {"timely": "2.0"}
    text = (tmp_path / "requirements.txt").read_text()
    assert "# lockbuild-exclude-newer: 7 days\n" in text
    assert "--exclude-newer '7 days'" in text
    assert str(NOW.year) not in text.split("\n\n")[0]  # no moving timestamp in the header
    check = ["check", "--index-url", server.url, "--exclude-newer"]
    assert lockbuild([*check, "7 days"], tz_env, tmp_path, check=False).returncode == 0
    proc = lockbuild([*check, "P1D"], tz_env, tmp_path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "lockbuild check: exclude-newer changed: locked with '7 days', now 'P1D'",
        f"run: lockbuild compile --upgrade --index-url {server.url} --exclude-newer P1D",
    ]
    found, _, _ = _lock(tmp_path, tz_env, server.url, "--exclude-newer", "P1D")
    assert found == {"timely": "3.0"}


def test_config_file_cutoff(tmp_path: Path, tz_env: dict[str, str], server: IndexServer) -> None:
    write(tmp_path / "requirements.in", "timely\n")
    write(tmp_path / "pyproject.toml", '[tool.lockbuild]\nexclude-newer = "1 week"\n')
    found, _, _ = _lock(tmp_path, tz_env, server.url)
    assert found == {"timely": "2.0"}
    assert "# lockbuild-exclude-newer: 1 week\n" in (tmp_path / "requirements.txt").read_text()
    assert (
        lockbuild(["check", "--index-url", server.url], tz_env, tmp_path, check=False).returncode
        == 0
    )
    write(tmp_path / "pyproject.toml", '[tool.lockbuild]\nexclude-newer = "6 months"\n')
    before = (tmp_path / "requirements.txt").read_bytes()
    _, stderr, code = _lock(tmp_path, tz_env, server.url, check=False)
    assert code == 1
    assert stderr.strip().splitlines() == [
        "lockbuild: error: pyproject.toml: [tool.lockbuild] exclude-newer '6 months': years "
        "and months vary in length; give days instead (e.g. 30 days)"
    ]
    assert (tmp_path / "requirements.txt").read_bytes() == before


def test_bad_cutoff_on_the_command_line(
    tmp_path: Path, tz_env: dict[str, str], server: IndexServer
) -> None:
    write(tmp_path / "requirements.in", "timely\n")
    _, stderr, code = _lock(tmp_path, tz_env, server.url, "--exclude-newer", "soon", check=False)
    assert code == 2 and "lockbuild: error: --exclude-newer 'soon': expected a date" in stderr
    assert "Traceback" not in stderr and not (tmp_path / "requirements.txt").exists()


def test_replay_window_table() -> None:
    start = datetime(2024, 6, 1, tzinfo=UTC)
    end = datetime(2024, 6, 5, tzinfo=UTC)
    window = [start.isoformat(), end.isoformat()]
    assert replay._within_window(window, start)
    assert replay._within_window(window, end)  # the file at `end` is still left out
    assert not replay._within_window(window, end + timedelta(microseconds=1))
    assert not replay._within_window(window, start - timedelta(seconds=1))
    assert replay._within_window([start.isoformat(), None], start + timedelta(days=999))
    for bad in (None, [], ["x", None], [start.isoformat()], "2024-06-01"):
        assert not replay._within_window(bad, start)


def test_replay_of_a_relative_cutoff_stops_when_an_upload_crosses_it(
    tmp_path: Path, tz_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file uploaded 7 days ago minus a few seconds is left out by "7 days", then let in
    a few seconds later: the page has not changed, yet the earlier result must not be
    replayed. Compile runs in process with its clock (``cutoff.clock``) moved, not slept."""
    start = datetime.now(UTC).replace(microsecond=0)
    clock = [start]
    monkeypatch.setattr(cutoff, "clock", lambda: clock[0])
    idx = FixtureIndex(tmp_path / "index")
    crossing = start - timedelta(days=7) + timedelta(seconds=12)
    _times(
        idx,
        "edgy",
        {"1.0": "2024-01-01T00:00:00Z", "2.0": crossing.strftime("%Y-%m-%dT%H:%M:%SZ")},
    )
    idx.write()
    work = tmp_path / "work"
    write(work / "requirements.in", "edgy\n")
    args = ["compile", "-U", "--cache-dir", str(tmp_path / "cache"), "--exclude-newer", "7 days"]
    monkeypatch.chdir(work)

    # The process's environment is the test's: what the isolated one lacks is unset.
    env: dict[str, str | None] = {**dict.fromkeys(os.environ), **tz_env}

    def run() -> str:
        result = CliRunner().invoke(main, [*args, "--index-url", srv.url], env=env)
        assert result.exit_code == 0, (result.stderr, result.exception)
        return result.stderr

    with IndexServer(idx.root) as srv:
        first = run()
        assert pins(work / "requirements.txt") == {"edgy": "1.0"}, first
        # The first run's key saw no outputs (their pins are preferences): run twice.
        run()
        clock[0] = start + timedelta(seconds=10)  # still before the upload is 7 days old
        assert "its result is reused" in run()  # inside the window: replayed
        clock[0] = start + timedelta(seconds=13)  # the upload is now 7 days and 1 s old
        later = run()
    assert "its result is reused" not in later
    assert pins(work / "requirements.txt") == {"edgy": "2.0"}


# --------------------------------------------------------------------------- no upload time

CUTOFF = "2030-01-01T00:00:00Z"


def _pip_admits(env: dict[str, str], where: list[str], dest: Path) -> bool:
    """pip's own answer (the oracle): does --uploaded-prior-to admit the file?"""
    proc = run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-d", dest, *where]
        + ["--uploaded-prior-to", CUTOFF, "timely==1.0"],
        env,
        check=False,
    )
    return proc.returncode == 0


def test_local_files_without_upload_time_are_admitted(
    tmp_path: Path, env: dict[str, str], index: FixtureIndex
) -> None:
    """A find-links directory gives no upload time: its files are the user's own, and a
    cut-off admits them, as pip's --uploaded-prior-to and uv's --exclude-newer do."""
    where = ["--no-index", "--find-links", str(index.find_links)]
    write(tmp_path / "requirements.in", "timely<3\n")
    proc = lockbuild(
        ["compile", *where, "--cache-dir", tmp_path / "cache", "--exclude-newer", CUTOFF],
        env,
        tmp_path,
    )
    assert pins(tmp_path / "requirements.txt") == {"timely": "2.0"}
    assert "upload time" not in proc.stderr
    assert _pip_admits(env, where, tmp_path / "pip")


def test_remote_files_without_upload_time_are_left_out(
    tmp_path: Path, env: dict[str, str], index: FixtureIndex
) -> None:
    """An index page without upload times (PEP 503 HTML only): the cut-off cannot place
    its files, so they are left out, as pip and uv do; the run says why, one line, no
    traceback and no lockfile."""
    write(tmp_path / "requirements.in", "timely\n")
    with IndexServer(index.root, json=False) as html_only:
        pins_, stderr, code = _lock(
            tmp_path, env, html_only.url, "--exclude-newer", CUTOFF, check=False
        )
        assert not _pip_admits(env, ["--index-url", html_only.url], tmp_path / "pip")
    assert code == 1 and pins_ == {}
    assert "lockbuild: note: 3 file(s) of timely left out: the index gives no upload time" in stderr
    assert "Traceback" not in stderr
