"""Benchmark ``lockbuild compile`` against ``pip-compile`` and ``uv pip compile``.

Every tool locks the same checked-in input sets (bench/sets/*.in) in one run on one
machine, with a cold cache (an empty cache directory) and a warm cache (the directory a
previous run filled), several times, on a loopback copy of the public index
(bench/mirror.py: one recording cold run of each tool per set fills it, the measured runs
are served from it alone, so no network is in the way) and/or on the public index itself
(``--index``). The script prints a table of medians of wall time and CPU (user + system of
the tool's process tree), the ratios of both, peak memory, compares the runtime pins of the
tools, times ``lockbuild --help`` and ``lockbuild check``, measures how cost grows with the
number of pins (the home-assistant set cut to its first N lines), checks the targets and
writes bench/RESULTS.md, bench/results.json and (through bench/plot.py) bench/growth.png.

Isolation: every tool ignores this machine's pip and uv configuration and gets its own
cache directories (its own, pip's and uv's, and XDG_CACHE_HOME) under a temporary
directory, so a cold run starts from nothing and no tool shares another's cache.

Run it with ``make bench`` (``make bench BENCH_SETS=a`` for a subset); ``--help`` lists the
knobs. It needs the network (for the recording passes), so it is not part of ``make test``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from mirror import RECORD, SERVE, MirrorProcess, store_size

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
SETS_DIR = BENCH_DIR / "sets"

LOCKBUILD = "lockbuild"
PIP_COMPILE = "pip-compile"
UV = "uv"
TOOLS = (LOCKBUILD, PIP_COMPILE, UV)
COLD = "cold"
# lockbuild's warm runs replay the recorded resolution when every index page it read is
# unchanged; these warm runs pass --no-replay and resolve again (shown beside, not a target).
WARM_RESOLVING = "warm, --no-replay"
WARM = "warm"
# The first cold run of each tool on the loopback copy, which fills it from the public
# index (shown apart: the network is in the way and the copy forwards every request).
RECORDING = "cold, recording"
PUBLIC = "public"
LOOPBACK = "loopback"
INDEXES = (PUBLIC, LOOPBACK)
# Set c once more, locking the build requirements of every sdist.
BUILD_ALL = "c-build-all"
BUILD_ALL_ARGS = ("--build-deps-for", "all")

# Variables that would point a tool at another index, extra files or constraints.
SCRUBBED_ENV = (
    "PIP_FIND_LINKS",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_CONSTRAINT",
    "PIP_BUILD_CONSTRAINT",
    "PIP_NO_INDEX",
    "PIP_REQUIRE_VIRTUALENV",
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_CONSTRAINT",
    "UV_BUILD_CONSTRAINT",
    "UV_OVERRIDE",
    "UV_CACHE_DIR",
    "UV_PYTHON",
    "UV_EXCLUDE_NEWER",
    "LOCKBUILD_CACHE_DIR",
    "PYTHONPATH",
    "VIRTUAL_ENV",
)

PIN_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#\\]+)")


@dataclass(frozen=True)
class InputSet:
    key: str
    filename: str
    title: str
    # A fixed upload cut-off (RFC 3339) so that the figures can be reproduced; given to
    # lockbuild and uv as --exclude-newer, to pip-compile as pip's --uploaded-prior-to.
    exclude_newer: str = ""
    where: Path = SETS_DIR
    # Tools not run on this set, and why (shown in RESULTS.md): on the public index, and
    # on the loopback copy unless asked for (--with-slow).
    skipped: tuple[tuple[str, str], ...] = ()
    skipped_loopback: tuple[tuple[str, str], ...] = ()
    # Fewer runs for a set whose single run takes minutes (None: the configured counts).
    cold_repeat: int | None = None
    warm_repeat: int | None = None

    @property
    def path(self) -> Path:
        return self.where / self.filename

    def skip_reason(self, tool: str, index: str = PUBLIC) -> str:
        return dict(self.skipped if index == PUBLIC else self.skipped_loopback).get(tool, "")

    def requirements(self) -> list[str]:
        """The requirement lines of the set, in file order, without comments."""
        lines = (line.split("#", 1)[0].strip() for line in self.path.read_text().splitlines())
        return [line for line in lines if line]


UV_CUTOFF = "2024-08-08T00:00:00Z"

SETS: dict[str, InputSet] = {
    "a": InputSet("a", "a-web-data.in", "wheel-only web/data stack"),
    "b": InputSet("b", "b-sdist-heavy.in", "sdist-heavy, build dependencies locked"),
    "c": InputSet("c", "c-large.in", "large set"),
    "trio": InputSet(
        "trio",
        "trio.in",
        "uv's own benchmark input trio.in",
        exclude_newer=UV_CUTOFF,
        where=ROOT / "tests" / "data",
    ),
    "jupyter": InputSet(
        "jupyter", "jupyter.in", "uv's own benchmark input jupyter.in", exclude_newer=UV_CUTOFF
    ),
    "ha": InputSet(
        "ha",
        "home-assistant.in",
        "uv's own large benchmark input home-assistant.in (projects gone from the index "
        "dropped, see the file's header)",
        exclude_newer=UV_CUTOFF,
        skipped=(
            (
                "pip-compile",
                "not run on the public index: one cold run of ~1,000 requirements would take "
                "longer than the benchmark's time budget on this shared machine",
            ),
        ),
        skipped_loopback=(
            (
                "pip-compile",
                "not run by default (`--with-slow` runs it): on the copy, its cold run of "
                "the first 50 lines took 157 s wall (30 s CPU) at load 18 against "
                "lockbuild's 35 s and uv's 30 s; it resolves one project at a time, so "
                "its three runs (recording, cold, warm) of the whole set, 20 times the "
                "lines, would not fit the benchmark's hour",
            ),
        ),
        cold_repeat=1,
        warm_repeat=1,
    ),
}
# The set whose first N requirements make the growth plot (lockbuild and uv only).
GROWTH_SET = "ha"
GROWTH_TOOLS = (LOCKBUILD, UV)


@dataclass(frozen=True)
class Config:
    sets: tuple[str, ...]
    tools: tuple[str, ...]
    repeat: int
    cold_repeat: int
    growth_sizes: tuple[int, ...]
    growth_repeat: int
    indexes: tuple[str, ...]
    mirror_store: Path | None
    build_all: bool
    first: int  # 0: whole sets; N: each set cut to its first N requirements (a trial)
    with_slow: bool  # run the tools a set skips on the loopback copy for time
    recording: bool  # False: the store given already holds every answer (no recording pass)
    startup_repeat: int
    timeout: float
    keep: bool
    results_md: Path
    results_json: Path
    plot_png: Path
    plot_python: str | None
    lockbuild_ref: str | None
    command: str


@dataclass
class Run:
    """One timed invocation of one tool."""

    label: str
    tool: str
    cache: str
    seconds: float
    cpu_seconds: float
    peak_mib: float
    returncode: int
    index: str = PUBLIC
    # Loopback copy: requests forwarded to the public index (recorded) during this run,
    # and requests it could not answer (not recorded; served as 404).
    forwarded: int = 0
    missed: int = 0
    pins: dict[str, str] = field(default_factory=dict)
    build_pins: dict[str, str] = field(default_factory=dict)
    command: str = ""
    error: str = ""
    load: float = 0.0  # 1-minute load average when the run started
    # --build-deps-for all: the releases the build file's header names as not buildable.
    not_buildable: list[str] = field(default_factory=list)
    # The builds the build file gives an environment of their own (lockbuild-scoped).
    scoped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass
class Summary:
    """The runs of one tool, one cache state, one input."""

    label: str
    tool: str
    cache: str
    index: str
    runs: list[Run]

    @property
    def good(self) -> list[Run]:
        return [r for r in self.runs if r.ok]

    @property
    def median(self) -> float | None:
        good = self.good
        return statistics.median(r.seconds for r in good) if good else None

    @property
    def minimum(self) -> float | None:
        good = self.good
        return min(r.seconds for r in good) if good else None

    @property
    def maximum(self) -> float | None:
        good = self.good
        return max(r.seconds for r in good) if good else None

    @property
    def cpu_median(self) -> float | None:
        good = self.good
        return statistics.median(r.cpu_seconds for r in good) if good else None

    @property
    def peak_mib(self) -> float | None:
        good = self.good
        return max(r.peak_mib for r in good) if good else None

    @property
    def pins(self) -> dict[str, str]:
        good = self.good
        return good[-1].pins if good else {}

    @property
    def build_pins(self) -> dict[str, str]:
        good = self.good
        return good[-1].build_pins if good else {}


@dataclass
class Target:
    """One promise from the issue, checked against the measurements."""

    name: str
    measured: float | None
    limit: float
    unit: str  # "x" for ratios, "s", "MiB", "exp" for a growth exponent, "" for yes/no
    note: str = ""
    shown: str = ""  # how the measurement reads, where a number alone says too little
    strict: bool = False  # met only below the limit, not at it

    @property
    def verdict(self) -> str:
        if self.measured is None:
            return "not measured" + (f" ({self.note})" if self.note else "")
        if self.measured < self.limit or (self.measured == self.limit and not self.strict):
            return "met"
        if not self.limit:
            return "missed"
        return f"missed by {(self.measured / self.limit - 1) * 100:.0f}%"


@dataclass
class Tools:
    """Where each tool lives, and how lockbuild's source is made importable."""

    python: str
    pip_compile: str
    uv: str
    lockbuild_script: list[str]
    lockbuild_pythonpath: str
    source_note: str

    def env(self, tool: str, cache_root: Path) -> dict[str, str]:
        """The environment of one run: no pip/uv configuration, every cache under
        ``cache_root``."""
        env = dict(os.environ)
        for key in SCRUBBED_ENV:
            env.pop(key, None)
        env["PIP_CONFIG_FILE"] = os.devnull
        env["UV_NO_CONFIG"] = "1"
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        env["PIP_CACHE_DIR"] = str(cache_root / "pip")
        env["XDG_CACHE_HOME"] = str(cache_root / "xdg")
        env["UV_CACHE_DIR"] = str(cache_root / "uv")
        env["LOCKBUILD_CACHE_DIR"] = str(cache_root / "lockbuild")
        if tool == LOCKBUILD:
            env["PYTHONPATH"] = self.lockbuild_pythonpath
        return env

    def compile_argv(
        self,
        tool: str,
        infile: str,
        outfile: str,
        cache_root: Path,
        exclude_newer: str = "",
        index_url: str = "",
    ) -> list[str]:
        """The command line of one compile; ``exclude_newer`` is the set's upload cut-off,
        ``index_url`` the loopback copy's (empty: each tool's default, the public index)."""
        argv = self.base_argv(tool, infile, outfile, cache_root)
        if index_url:
            argv += ["--index-url", index_url]
        if exclude_newer and tool in (LOCKBUILD, UV):
            argv += ["--exclude-newer", exclude_newer]
        elif exclude_newer and tool == PIP_COMPILE:
            # pip-compile has no cut-off of its own; pip's option reaches its finder.
            argv += ["--pip-args", f"--uploaded-prior-to {exclude_newer}"]
        return argv

    def base_argv(self, tool: str, infile: str, outfile: str, cache_root: Path) -> list[str]:
        if tool == LOCKBUILD:
            return [
                *self.lockbuild_script,
                "compile",
                "-q",
                infile,
                "-o",
                outfile,
                "--cache-dir",
                str(cache_root / "lockbuild"),
            ]
        if tool == PIP_COMPILE:
            return [
                self.pip_compile,
                "-q",
                "--strip-extras",
                "--allow-unsafe",
                "--cache-dir",
                str(cache_root / "pip-tools"),
                "-o",
                outfile,
                infile,
            ]
        if tool == UV:
            return [
                self.uv,
                "pip",
                "compile",
                "-q",
                "--python",
                self.python,
                "--cache-dir",
                str(cache_root / "uv"),
                "-o",
                outfile,
                infile,
            ]
        raise ValueError(tool)


# --- measuring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    seconds: float  # wall clock
    cpu_seconds: float  # user + system, of the whole process tree
    peak_mib: float
    returncode: int
    error: str  # the end of stderr, for a failed run


def timed(
    argv: Sequence[str], env: dict[str, str], cwd: Path, timeout: float, log_prefix: Path
) -> Timing:
    """Run ``argv`` with its output in ``log_prefix``.out/.err, and time it.

    The peak RSS is ``ru_maxrss`` from wait4 on the child: the largest single process of
    the tree the child waited for (not a sum over processes)."""
    out_path = log_prefix.with_suffix(".out")
    err_path = log_prefix.with_suffix(".err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdout=out, stderr=err, start_new_session=True
        )
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    code = proc.returncode
    tail = ""
    if code != 0:
        text = err_path.read_text(errors="replace").strip().splitlines()
        tail = "\n".join(text[-15:])
        if killed.is_set():
            tail = f"killed after the {timeout:.0f} s timeout\n{tail}"
    cpu = usage.ru_utime + usage.ru_stime
    return Timing(elapsed, cpu, usage.ru_maxrss / 1024, code, tail)


def read_not_buildable(path: Path, key: str = "lockbuild-not-buildable") -> list[str]:
    """``name==version: reason`` of each release a build file's header names as not
    buildable from source (``# lockbuild-not-buildable:`` lines; ``key``: other lines)."""
    prefix = f"# {key}: "
    try:
        text = path.read_text()
    except OSError:
        return []
    return [line[len(prefix) :] for line in text.splitlines() if line.startswith(prefix)]


def read_pins(path: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, names normalized (PEP 503)."""
    pins: dict[str, str] = {}
    if not path.exists():
        return pins
    for line in path.read_text().splitlines():
        match = PIN_LINE.match(line.strip())
        if match:
            pins[normalize(match.group(1))] = match.group(2)
    return pins


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


class Bench:
    def __init__(
        self, config: Config, tools: Tools, workdir: Path, mirror: MirrorProcess | None = None
    ) -> None:
        self.config = config
        self.tools = tools
        self.workdir = workdir
        self.mirror = mirror
        self.summaries: dict[tuple[str, str, str, str], Summary] = {}
        self.counter = 0
        self.check_dir: Path | None = None
        # (label, index, phase, seconds): how long each part of the benchmark took.
        self.phases: list[tuple[str, str, str, float]] = []
        # (label, index, tool) -> why the tool's measured runs were not made
        self.dropped: dict[tuple[str, str, str], str] = {}

    def summary(self, label: str, tool: str, cache: str, index: str) -> Summary:
        key = (label, tool, cache, index)
        if key not in self.summaries:
            self.summaries[key] = Summary(label, tool, cache, index, [])
        return self.summaries[key]

    def run_compile(
        self,
        label: str,
        tool: str,
        cache: str,
        infile: Path,
        cache_root: Path,
        extra: Sequence[str] = (),
        exclude_newer: str = "",
        index: str = PUBLIC,
    ) -> Run:
        """One compile of ``infile`` in a fresh directory (so no earlier lockfile is
        preferred), with the given cache root, on the public index or the loopback copy."""
        self.counter += 1
        rundir = self.workdir / "runs" / f"{self.counter:04d}-{label}-{tool}-{index}-{cache}"
        rundir = rundir.with_name(rundir.name.replace(", ", "-").replace(" ", ""))
        rundir.mkdir(parents=True)
        shutil.copyfile(infile, rundir / "requirements.in")
        cache_root.mkdir(parents=True, exist_ok=True)
        index_url = ""
        if index == LOOPBACK:
            assert self.mirror is not None
            index_url = self.mirror.index_url
            self.mirror.take_stats()
        argv = [
            *self.tools.compile_argv(
                tool, "requirements.in", "requirements.txt", cache_root, exclude_newer, index_url
            ),
            *extra,
        ]
        env = self.tools.env(tool, cache_root)
        load = os.getloadavg()[0]
        t = timed(argv, env, rundir, self.config.timeout, rundir / f"{tool}-log")
        seconds, peak, code, tail = t.seconds, t.peak_mib, t.returncode, t.error
        stats = self.mirror.take_stats() if index == LOOPBACK and self.mirror else None
        run = Run(
            label=label,
            tool=tool,
            cache=cache,
            seconds=seconds,
            cpu_seconds=t.cpu_seconds,
            peak_mib=peak,
            returncode=code,
            index=index,
            forwarded=stats.recorded if stats else 0,
            missed=len(stats.misses) if stats else 0,
            pins=read_pins(rundir / "requirements.txt") if code == 0 else {},
            build_pins=read_pins(rundir / "requirements-build.txt") if code == 0 else {},
            command=f"(cd {rundir} && {shlex.join(argv)})",
            error=tail,
            load=load,
            not_buildable=read_not_buildable(rundir / "requirements-build.txt")
            if code == 0 and label == BUILD_ALL
            else [],
            scoped=read_not_buildable(rundir / "requirements-build.txt", "lockbuild-scoped")
            if code == 0 and label == BUILD_ALL
            else [],
        )
        if tool == LOCKBUILD and label == "a" and code == 0 and cache != RECORDING:
            self.check_dir = rundir
        self.summary(label, tool, cache, index).runs.append(run)
        status = (
            f"{len(run.pins)} pins" + (f" + {len(run.build_pins)} build" if run.build_pins else "")
            if run.ok
            else f"FAILED (exit {code})"
        )
        copy = ""
        if stats:
            copy = f"  [copy: {stats.served} served, {stats.recorded} fetched"
            copy += f", {len(stats.misses)} MISSED: {stats.misses[:3]}]" if stats.misses else "]"
        say(
            f"  [{label}] {index:<8} {tool:<11} {cache:<17} {seconds:8.2f} s "
            f"(cpu {t.cpu_seconds:7.2f} s) {peak:6.0f} MiB  {status}{copy}"
        )
        if not run.ok:
            say("    " + tail.replace("\n", "\n    "))
        return run

    def phase(self, label: str, index: str, name: str, since: float) -> None:
        seconds = time.monotonic() - since
        self.phases.append((label, index, name, seconds))
        say(f"  [{label}] {index} {name}: {seconds:.0f} s")

    def measure(
        self,
        label: str,
        infile: Path,
        cold_repeat: int,
        warm_repeat: int,
        *,
        index: str,
        resolving: bool = False,
        input_set: InputSet | None = None,
        tools: Sequence[str] | None = None,
        extra: Sequence[str] = (),
        record_pass: bool = True,
    ) -> None:
        """Cold runs (each on an empty cache), then warm runs reusing the last cold cache;
        tools interleaved so that they see the same network conditions. Each warm round
        runs every tool once, lockbuild resolving again (--no-replay) right after its
        default run, so that the rows compared are runs paired in time.

        On the loopback copy, a recording pass comes first (one cold run of each tool
        while the copy forwards what it lacks to the public index) and the measured runs
        are then served from the copy alone. With ``record_pass`` False (the growth
        cuts, whose pages the whole set's pass has mostly recorded) the copy forwards
        what it lacks during the measured runs, and each run says how many it forwarded.
        """
        cutoff = input_set.exclude_newer if input_set else ""
        chosen = tools if tools is not None else self.config.tools
        tools = [t for t in chosen if not (input_set and input_set.skip_reason(t, index))]
        caches: dict[str, Path] = {}
        if index == LOOPBACK:
            assert self.mirror is not None
            self.mirror.mode = RECORD
            if record_pass and not self.config.recording:
                self.mirror.mode = SERVE
            elif record_pass:
                since = time.monotonic()
                for tool in list(tools):
                    cache_root = self.workdir / "caches" / f"{label}-{tool}-{index}-recording"
                    run = self.run_compile(
                        label, tool, RECORDING, infile, cache_root, extra, cutoff, index
                    )
                    shutil.rmtree(cache_root, ignore_errors=True)
                    if not run.ok:
                        # Its measured runs would only ask for what was not recorded.
                        tools.remove(tool)
                        self.dropped[(label, index, tool)] = (
                            "its recording run failed: " + (run.error.splitlines() or ["?"])[0]
                        )
                self.phase(label, index, "recording", since)
                self.mirror.mode = SERVE
        since = time.monotonic()
        for i in range(cold_repeat):
            for tool in tools:
                cache_root = self.workdir / "caches" / f"{label}-{tool}-{index}-{i}"
                if tool in caches and not self.config.keep:
                    shutil.rmtree(caches[tool], ignore_errors=True)
                caches[tool] = cache_root
                self.run_compile(label, tool, COLD, infile, cache_root, extra, cutoff, index)
        self.phase(label, index, "cold", since)
        since = time.monotonic()
        for _ in range(warm_repeat):
            for tool in tools:
                self.run_compile(label, tool, WARM, infile, caches[tool], extra, cutoff, index)
                if resolving and tool == LOCKBUILD:
                    self.run_compile(
                        label,
                        LOCKBUILD,
                        WARM_RESOLVING,
                        infile,
                        caches[LOCKBUILD],
                        [*extra, "--no-replay"],
                        cutoff,
                        index,
                    )
        if warm_repeat:
            self.phase(label, index, "warm", since)
        if not self.config.keep:
            for cache_root in caches.values():
                shutil.rmtree(cache_root, ignore_errors=True)

    def growth(self, input_set: InputSet, index: str) -> list[int]:
        """Measure the first N requirements of the set for each configured N (lockbuild
        and uv); return the sizes measured (the whole set is the main measurement)."""
        reqs = input_set.requirements()
        sizes = sorted({n for n in self.config.growth_sizes if 0 < n < len(reqs)})
        for n in sizes:
            cut = self.workdir / f"{input_set.key}-first{n}.in"
            cut.write_text("\n".join(reqs[:n]) + "\n")
            say(f"set {input_set.key}, first {n} requirements ({index} index):")
            self.measure(
                f"{input_set.key}{n}",
                cut,
                1,
                self.config.growth_repeat,
                index=index,
                input_set=input_set,
                tools=[t for t in GROWTH_TOOLS if t in self.config.tools],
                record_pass=False,
            )
        return sizes

    def time_command(self, name: str, argv: Sequence[str], cwd: Path) -> tuple[float | None, str]:
        """Median wall time of a short lockbuild command over the startup repeats."""
        times: list[float] = []
        env = self.tools.env(LOCKBUILD, self.workdir / "caches" / "startup")
        for i in range(self.config.startup_repeat):
            t = timed(argv, env, cwd, 60, self.workdir / f"{name}-{i}")
            if t.returncode != 0:
                return None, f"exit {t.returncode}: {t.error}"
            times.append(t.seconds)
        return statistics.median(times), ""


# --- environment facts --------------------------------------------------------------------


def output_of(argv: Sequence[str], env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    text = (proc.stdout or proc.stderr).strip()
    return text.splitlines()[0] if text else f"unavailable (exit {proc.returncode})"


def snapshot_lockbuild(dest: Path, ref: str | None) -> str:
    """Copy the lockbuild package (from the work tree, or from git ``ref``) into ``dest``
    so that edits made while the benchmark runs do not change what it measures; return a
    description of what was copied."""
    target = dest / "lockbuild"
    if ref:
        data = subprocess.run(
            ["git", "-C", str(ROOT), "archive", "--format=tar", ref, "lockbuild"],
            capture_output=True,
            check=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            tar.extractall(dest, filter="data")
        commit = output_of(["git", "-C", str(ROOT), "rev-parse", "--short", ref])
        where = f"git {ref} ({commit})"
    else:
        shutil.copytree(ROOT / "lockbuild", target, ignore=shutil.ignore_patterns("__pycache__"))
        commit = output_of(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
        dirty = output_of(["git", "-C", str(ROOT), "status", "--porcelain", "--", "lockbuild"])
        state = "with uncommitted changes" if dirty and not dirty.startswith("unavail") else ""
        where = f"work tree at {commit} {state}".strip()
    # Byte-compiled as an installer does (pip compiles a wheel's modules; this machine
    # sets PYTHONDONTWRITEBYTECODE, which would make every run compile them again).
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(target)], check=True)
    digest = hashlib.sha256()
    for path in sorted(target.rglob("*.py")):
        digest.update(path.relative_to(target).as_posix().encode())
        digest.update(path.read_bytes())
    return f"{where}; source sha256 {digest.hexdigest()[:12]}"


def versions(tools: Tools) -> dict[str, str]:
    env = tools.env(LOCKBUILD, Path(tempfile.gettempdir()) / "lockbuild-bench-versions")
    return {
        "lockbuild": output_of([*tools.lockbuild_script, "--version"], env),
        "lockbuild source": tools.source_note,
        "pip-compile": output_of([tools.pip_compile, "--version"]),
        "pip": output_of([tools.python, "-m", "pip", "--version"]).split(" from ")[0],
        "uv": output_of([tools.uv, "--version"]),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "machine": (
            f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
            f"{memory_gib():.0f} GiB"
        ),
    }


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


# --- analysis -----------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def growth_exponent(points: Sequence[tuple[int, float]]) -> float | None:
    """Slope of log(time) against log(pins), least squares: 1.0 is linear growth."""
    pts = [(math.log(n), math.log(t)) for n, t in points if n > 0 and t > 0]
    if len(pts) < 2:
        return None
    mx = statistics.fmean(x for x, _ in pts)
    my = statistics.fmean(y for _, y in pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in pts) / sxx


def compare_pins(
    label: str, name_a: str, pins_a: dict[str, str], name_b: str, pins_b: dict[str, str]
) -> str:
    if not pins_a or not pins_b:
        missing = name_a if not pins_a else name_b
        return f"set {label}: {name_a} vs {name_b}: no lockfile from {missing} to compare"
    only_a = sorted(set(pins_a) - set(pins_b))
    only_b = sorted(set(pins_b) - set(pins_a))
    differ = sorted(n for n in set(pins_a) & set(pins_b) if pins_a[n] != pins_b[n])
    head = f"set {label}: {name_a} {len(pins_a)} pins, {name_b} {len(pins_b)} pins: "
    if not (only_a or only_b or differ):
        return head + "identical"
    parts = []
    if differ:
        parts.append(
            f"{len(differ)} differ ("
            + ", ".join(f"{n} {pins_a[n]} vs {pins_b[n]}" for n in differ[:8])
            + (", ..." if len(differ) > 8 else "")
            + ")"
        )
    if only_a:
        parts.append(f"only in {name_a}: " + ", ".join(only_a[:10]))
    if only_b:
        parts.append(f"only in {name_b}: " + ", ".join(only_b[:10]))
    return head + "; ".join(parts)


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "—" if value is None else f"{value:.{digits}f}{suffix}"


def fmt_target(t: Target) -> str:
    if t.shown or t.measured is None:
        return t.shown or "—"
    if t.unit == "x":
        return f"{fmt(t.measured)}× (≤ {t.limit:g}×)"
    if t.unit == "exp":
        return f"exponent {fmt(t.measured)} (≤ {t.limit:g})"
    return f"{fmt(t.measured, 2 if t.unit == 's' else 0)} {t.unit} (≤ {t.limit:g} {t.unit})"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def text_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    all_rows = [list(header), *[list(r) for r in rows]]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in all_rows]
    out.insert(1, "  ".join("-" * w for w in widths))
    return out


@dataclass
class Report:
    config: Config
    started: datetime
    finished: datetime
    facts: dict[str, str]
    bench: Bench
    growth: dict[str, list[tuple[str, int]]]  # set key -> [(label, requirement count)]
    startup: dict[str, tuple[float | None, str]]
    plot_note: str = ""
    copy_note: str = ""  # what the loopback copy held at the end

    @property
    def head(self) -> str:
        """The index the targets are judged on: the loopback copy when it was measured."""
        return LOOPBACK if LOOPBACK in self.config.indexes else PUBLIC

    def s(self, label: str, tool: str, cache: str, index: str | None = None) -> Summary:
        return self.bench.summary(label, tool, cache, index or self.head)

    def main_rows(self) -> list[list[str]]:
        rows = []
        for key in self.config.sets:
            for index in self.config.indexes:
                for cache in (COLD, WARM, WARM_RESOLVING):
                    for tool in self.config.tools:
                        sm = self.s(key, tool, cache, index)
                        if not sm.runs and (
                            cache == WARM_RESOLVING
                            or self.skip_reason(key, tool, index)
                            or (key, index, tool) in self.bench.dropped
                        ):
                            continue
                        pins = f"{len(sm.pins)}" + (
                            f" + {len(sm.build_pins)}b" if sm.build_pins else ""
                        )
                        rows.append(
                            [
                                key,
                                index,
                                cache,
                                tool,
                                f"{len(sm.good)}/{len(sm.runs)}",
                                fmt(sm.median),
                                fmt(sm.cpu_median),
                                fmt(sm.minimum),
                                fmt(sm.maximum),
                                fmt(sm.peak_mib, 0),
                                pins if sm.good else "—",
                            ]
                        )
        return rows

    def skip_reason(self, key: str, tool: str, index: str) -> str:
        if index == LOOPBACK and self.config.with_slow:
            return ""
        return SETS[key].skip_reason(tool, index)

    def peers(self) -> list[str]:
        return [t for t in (UV, PIP_COMPILE) if t in self.config.tools]

    def ratio_header(self) -> list[str]:
        header = ["set", "index", "cache"]
        for peer in self.peers():
            header += [f"wall lockbuild/{peer}", f"cpu lockbuild/{peer}"]
        return header

    def ratio_rows(self) -> list[list[str]]:
        rows = []
        for key in self.config.sets:
            for index in self.config.indexes:
                for cache in (COLD, WARM, WARM_RESOLVING):
                    lb = self.s(key, LOCKBUILD, cache, index)
                    if lb.median is None and cache == WARM_RESOLVING:
                        continue
                    peer_cache = WARM if cache == WARM_RESOLVING else cache
                    row = [key, index, cache]
                    for peer in self.peers():
                        other = self.s(key, peer, peer_cache, index)
                        row.append(fmt(ratio(lb.median, other.median), 2, "×"))
                        row.append(fmt(ratio(lb.cpu_median, other.cpu_median), 2, "×"))
                    rows.append(row)
        return rows

    def recording_rows(self) -> list[list[str]]:
        rows = []
        labels = [*self.config.sets, BUILD_ALL]
        for key in labels:
            for tool in self.config.tools:
                for run in self.s(key, tool, RECORDING, LOOPBACK).runs:
                    rows.append(
                        [
                            key,
                            tool,
                            fmt(run.seconds),
                            fmt(run.cpu_seconds),
                            str(run.forwarded),
                            "ok" if run.ok else f"exit {run.returncode}",
                        ]
                    )
        return rows

    def phase_rows(self) -> list[list[str]]:
        return [[label, index, name, f"{sec:.0f}"] for label, index, name, sec in self.bench.phases]

    def missed_lines(self) -> list[str]:
        """Measured runs on the loopback copy that asked for something not recorded."""
        return [
            f"set {r.label}, {r.tool} ({r.cache}): {r.missed} requests not in the copy "
            "(answered 404)"
            for sm in self.bench.summaries.values()
            for r in sm.runs
            if r.missed and r.cache != RECORDING
        ]

    def pins_of(self, key: str, tool: str) -> dict[str, str]:
        for index in (self.head, *self.config.indexes):
            for cache in (WARM, COLD):
                pins = self.s(key, tool, cache, index).pins
                if pins:
                    return pins
        return {}

    def why_not_run(self, key: str, tool: str) -> str:
        """Why ``tool`` has no lockfile of set ``key`` ("" when it has one)."""
        if tool not in self.config.tools:
            return "not among the tools of this run"
        for index in self.config.indexes:
            if (key, index, tool) in self.bench.dropped:
                return self.bench.dropped[(key, index, tool)]
        reason = self.skip_reason(key, tool, self.head)
        return reason

    def pin_lines(self) -> list[str]:
        lines = []
        for key in self.config.sets:
            lb = self.pins_of(key, LOCKBUILD)
            for peer in self.peers():
                reason = self.why_not_run(key, peer)
                other = self.pins_of(key, peer)
                if not other and reason:
                    lines.append(f"set {key}: {peer} {reason}")
                    continue
                lines.append(compare_pins(key, LOCKBUILD, lb, peer, other))
        return lines

    def build_all_lines(self) -> list[str]:
        """Set c with --build-deps-for all: time, memory, build pins, and the runtime pins
        that differ from the plain lock (a build edge can hold a runtime pin back)."""
        lines = []
        for index in self.config.indexes:
            for cache in (RECORDING, COLD) if index == LOOPBACK else (COLD,):
                runs = self.s(BUILD_ALL, LOCKBUILD, cache, index).runs
                if not runs:
                    continue
                run = runs[-1]
                where = f"{index} index, {cache}"
                if not run.ok:
                    lines.append(
                        f"set c --build-deps-for all ({where}): FAILED (exit {run.returncode})"
                    )
                    continue
                lines.append(
                    f"set c --build-deps-for all ({where}): {fmt(run.seconds)} s, cpu "
                    f"{fmt(run.cpu_seconds)} s, peak {run.peak_mib:.0f} MiB, {len(run.pins)} "
                    f"runtime pins, {len(run.build_pins)} build pins"
                )
        measured = self.build_all_run()
        if measured is None or not measured.ok:
            return lines
        run = measured
        plain = self.pins_of("c", LOCKBUILD)
        differ = sorted(
            f"{n} {plain.get(n, '-')} -> {v}" for n, v in run.pins.items() if plain.get(n) != v
        )
        differ += sorted(f"{n} {v} -> -" for n, v in plain.items() if n not in run.pins)
        return lines + [
            f"runtime pins that differ from the plain lock of set c: {len(differ)}"
            + (": " + ", ".join(differ) if differ else ""),
            f"releases installed from wheels named not buildable from source under this lock: "
            f"{len(run.not_buildable)}"
            + (": " + "; ".join(run.not_buildable) if run.not_buildable else ""),
            f"builds with a scoped environment: {len(run.scoped)}"
            + (": " + "; ".join(run.scoped) if run.scoped else ""),
        ]

    def build_all_run(self) -> Run | None:
        """The measured cold run of set c with --build-deps-for all (headline index first)."""
        for index in (self.head, *self.config.indexes):
            runs = self.s(BUILD_ALL, LOCKBUILD, COLD, index).runs
            if runs:
                return runs[-1]
        return None

    def growth_points(
        self, key: str, tool: str, cache: str, cpu: bool = False
    ) -> list[tuple[int, float]]:
        """(pins, median seconds, wall or CPU) for each cut of the set and the whole set."""
        points = []
        for label, _ in self.growth.get(key, []):
            sm = self.s(label, tool, cache)
            pins = len(self.s(label, LOCKBUILD, cache).pins) or len(sm.pins)
            value = sm.cpu_median if cpu else sm.median
            if value is not None and pins:
                points.append((pins, value))
        return points

    def growth_rows(self, key: str) -> list[list[str]]:
        rows = []
        tools = [t for t in GROWTH_TOOLS if t in self.config.tools]
        for label, n in self.growth.get(key, []):
            pins = len(self.s(label, LOCKBUILD, WARM).pins) or len(self.s(label, UV, WARM).pins)
            row = [str(n), str(pins)]
            for tool in tools:
                for cache in (COLD, WARM):
                    sm = self.s(label, tool, cache)
                    row.append(f"{fmt(sm.median)} / {fmt(sm.cpu_median)}")
            lb = self.s(label, LOCKBUILD, COLD)
            row.append(fmt(lb.peak_mib, 0))
            row.append(fmt(self.s(label, UV, COLD).peak_mib, 0))
            forwarded = sum(
                r.forwarded for t in tools for c in (COLD, WARM) for r in self.s(label, t, c).runs
            )
            row.append(str(forwarded) if label != key else "—")
            rows.append(row)
        return rows

    def targets(self) -> list[Target]:
        """Issue 24's goals (round three), judged on the headline index."""

        def sm(key: str, tool: str, cache: str) -> Summary | None:
            if key not in self.config.sets or tool not in self.config.tools:
                return None
            return self.s(key, tool, cache)

        def vs(
            key: str, cache: str, cpu: bool, name: str, limit: float, strict: bool = False
        ) -> Target:
            lb, uv = sm(key, LOCKBUILD, cache), sm(key, UV, cache)
            a = None if lb is None else (lb.cpu_median if cpu else lb.median)
            b = None if uv is None else (uv.cpu_median if cpu else uv.median)
            r = ratio(a, b)
            shown = f"{fmt(r)}× ({fmt(a)} s vs uv {fmt(b)} s)" if r is not None else ""
            return Target(name, r, limit, "x", shown=shown, strict=strict)

        out: list[Target] = []
        for key in ("a", "trio", "jupyter", "ha"):
            if key not in self.config.sets:
                continue
            out += [
                vs(key, COLD, True, f"({key}) cold CPU ≤ 1.5× uv", 1.5),
                vs(key, COLD, False, f"({key}) cold wall ≤ 1.0× uv", 1.0),
                vs(key, WARM, False, f"({key}) warm wall ≤ 0.8× uv (default path)", 0.8),
            ]
        if "b" in self.config.sets:
            out += [
                vs("b", COLD, False, "(b) cold wall < uv", 1.0, strict=True),
                vs("b", WARM, False, "(b) warm wall < uv (default path)", 1.0, strict=True),
            ]
        if "ha" in self.config.sets:
            lb_runs = [r for c in (COLD, WARM) for r in self.s("ha", LOCKBUILD, c).good]
            uv_runs = [r for c in (COLD, WARM) for r in self.s("ha", UV, c).good]
            lb_peak = max((r.peak_mib for r in lb_runs), default=None)
            uv_peak = max((r.peak_mib for r in uv_runs), default=None)
            out.append(
                Target(
                    "(ha) peak memory ≤ uv's",
                    ratio(lb_peak, uv_peak),
                    1.0,
                    "x",
                    shown=(
                        f"{fmt(lb_peak, 0)} MiB vs uv {fmt(uv_peak, 0)} MiB"
                        if lb_peak is not None and uv_peak is not None
                        else ""
                    ),
                )
            )
        for key in self.config.sets:
            lb = self.pins_of(key, LOCKBUILD)
            parts, missing, differ = [], [], False
            for peer in (UV, PIP_COMPILE):
                other = self.pins_of(key, peer)
                if not other or not lb:
                    missing.append(peer if lb else LOCKBUILD)
                    continue
                same = compare_pins(key, LOCKBUILD, lb, peer, other)
                differ = differ or not same.endswith(": identical")
                parts.append(f"{peer}: " + same.split(": ", 2)[2])
            note = ", ".join(f"no lockfile from {m}" for m in missing)
            out.append(
                Target(
                    f"({key}) runtime pins identical across lockbuild, uv, pip-compile",
                    None if missing and not differ else (1.0 if differ else 0.0),
                    0.0,
                    "",
                    note=note,
                    shown="; ".join(parts) + (f" ({note})" if note and parts else ""),
                )
            )
        if "c" in self.config.sets and LOCKBUILD in self.config.tools and self.config.build_all:
            run = self.build_all_run()
            out.append(
                Target(
                    "(c) --build-deps-for all, cold ≤ 200 s",
                    run.seconds if run is not None and run.ok else None,
                    200,
                    "s",
                    note="" if run is not None else "not run",
                    shown=(
                        f"{fmt(run.seconds)} s (cpu {fmt(run.cpu_seconds)} s, peak "
                        f"{run.peak_mib:.0f} MiB, {run.index} index)"
                        if run is not None and run.ok
                        else ("failed" if run is not None else "")
                    ),
                )
            )
        if "check" in self.startup:
            check, why = self.startup["check"]
            out.append(Target("`lockbuild check` on set (a) ≤ 0.3 s", check, 0.3, "s", note=why))
        help_s, why = self.startup.get("help", (None, "not measured"))
        out.append(Target("`lockbuild --help` ≤ 0.25 s", help_s, 0.25, "s", note=why))
        return out

    def failures(self) -> list[Run]:
        return [r for sm in self.bench.summaries.values() for r in sm.runs if not r.ok]

    # --- rendering

    MAIN_HEADER = (
        "set",
        "index",
        "cache",
        "tool",
        "ok",
        "wall s",
        "cpu s",
        "min wall",
        "max wall",
        "peak MiB",
        "pins",
    )
    RECORDING_HEADER = ("set", "tool", "wall s", "cpu s", "fetched from the public index", "")
    PHASE_HEADER = ("set", "index", "phase", "seconds")

    def text(self) -> str:
        lines = [f"lockbuild benchmark, {self.started:%Y-%m-%d %H:%M} UTC"]
        lines += [f"  {k}: {v}" for k, v in self.facts.items()]
        lines += ["", *text_table(self.MAIN_HEADER, self.main_rows()), ""]
        lines += [*text_table(self.ratio_header(), self.ratio_rows()), ""]
        if self.recording_rows():
            lines += ["recording passes (loopback copy filled from the public index):"]
            lines += [*text_table(self.RECORDING_HEADER, self.recording_rows()), ""]
        lines += [*self.missed_lines()]
        lines += ["", *self.pin_lines(), ""]
        lines += [*self.build_all_lines(), ""]
        for key, value in self.startup.items():
            what = "check" if key == "check" else "--help"
            lines.append(f"lockbuild {what}: {fmt(value[0])} s {value[1]}".rstrip())
        lines.append("")
        lines += [*text_table(self.PHASE_HEADER, self.phase_rows()), ""]
        lines += text_table(
            ("target", "measured", "verdict"),
            [[t.name, fmt_target(t), t.verdict] for t in self.targets()],
        )
        return "\n".join(lines)

    def markdown(self, previous_notes: str) -> str:
        cfg = self.config
        indexes = " and ".join(
            {
                PUBLIC: "the public index",
                LOOPBACK: "a loopback copy of the public index (below)",
            }[i]
            for i in cfg.indexes
        )
        lines = [
            "# lockbuild benchmark results",
            "",
            f"Measured {self.started:%Y-%m-%d %H:%M} – {self.finished:%H:%M} UTC by "
            f"`{cfg.command}` ({indexes}; tools interleaved, one run at a time). The targets "
            f"are judged on the {self.head} index's rows."
            + (
                f" A trial: every set was cut to its first {cfg.first} requirement lines."
                if cfg.first
                else ""
            ),
            "",
            *markdown_table(("what", "version / fact"), [[k, v] for k, v in self.facts.items()]),
            "",
            "**CPU is the headline.** `cpu s` is the median user + system time of the tool's "
            "whole process tree (its children and their children, as wait4 reports them): it "
            "does not move with the network or with other programs sharing the machine the "
            "way wall time does. Both are shown, with the ratios of both.",
            "",
            "**The loopback copy** (`bench/mirror.py`): a small threaded HTTP server on "
            "127.0.0.1. For each set, one *recording* cold run of each tool goes through it "
            "while it forwards what it has not stored to the public index (pip's own default "
            "index) and stores each answer whole (body, content type; keyed by path and by "
            "the JSON or HTML simple API asked for in Accept); index pages have their file "
            "URLs rewritten to point at the copy, so wheels, sdists and PEP 658 `.metadata` "
            "files come through it too, and Range requests are answered from the stored "
            "whole file. The measured runs are then served from the store alone (anything not "
            "recorded would be a 404, counted below), so every tool is measured with no "
            "network in the way and the figures reproduce. Like the public index's pages, "
            "the copy sends no cache validators (no ETag, Last-Modified or Cache-Control), "
            "so every warm run of every tool fetches every page again, as it does on the "
            "public index; unlike it, the copy sends nothing compressed (no tool decodes "
            "gzip here). The copy runs in the benchmark's own process: its CPU is not in "
            "any tool's figure. The growth cuts are measured on the copy filled by the "
            "whole set's recording pass; what a cut asks for beyond it is forwarded and "
            "counted in the growth table."
            + (
                " In this run there was no recording pass (`--skip-recording`): the store "
                "had been filled by an earlier run."
                if not cfg.recording
                else ""
            ),
            "",
            f"Runs: {cfg.cold_repeat} cold (each on an empty cache) and {cfg.repeat} warm "
            "(reusing the last cold run's cache) per tool, set and index, unless the set says "
            "fewer (ha: 1 and 1); every run writes a fresh output file, so no earlier "
            "lockfile is preferred. Peak memory is the largest ru_maxrss of the tool's "
            "process tree (one process, not a sum). Each tool ignores the machine's pip/uv "
            "configuration (`PIP_CONFIG_FILE=/dev/null`, `UV_NO_CONFIG=1`, index variables "
            "unset) and has its own cache directories. lockbuild runs as "
            "`python -m lockbuild compile -q` from a snapshot of its source whose modules "
            "are byte-compiled first (`python -m compileall -q`), as `pip install` does at "
            "install time: this machine sets `PYTHONDONTWRITEBYTECODE=1`, so without it "
            "every run would compile every module again and the figure would measure "
            "Python's compiler, not lockbuild. pip-compile runs as "
            "`pip-compile -q --strip-extras --allow-unsafe`, uv as `uv pip compile -q` "
            "(for the same interpreter); on the copy each gets `--index-url` pointing at it. "
            "The `warm` rows are each tool's default path (a warm lockbuild run replays the "
            "result recorded by an identical earlier run after checking the pages it read, "
            "if it has one); `warm, --no-replay` rows are warm lockbuild runs that resolve "
            "again, compared with the peers' warm runs.",
            "",
            "Input sets (bench/sets/, trio.in from tests/data/): "
            + "; ".join(
                f"({k}) `{SETS[k].filename}`, {SETS[k].title}, {len(SETS[k].requirements())} "
                "top-level requirements"
                + (f", cut-off {SETS[k].exclude_newer}" if SETS[k].exclude_newer else "")
                for k in cfg.sets
            )
            + ".",
            "",
            "A set with a cut-off is locked by lockbuild and uv with `--exclude-newer CUTOFF` "
            "and by pip-compile with `--pip-args '--uploaded-prior-to CUTOFF'` (pip-compile "
            "has no cut-off of its own; pip's option reaches the finder it uses), so the "
            "three tools see the same files and their figures can be reproduced later. "
            + " ".join(
                f"On set ({k}), {index} index, {tool} is {why}."
                for k in cfg.sets
                for index in cfg.indexes
                for tool in cfg.tools
                for why in [self.skip_reason(k, tool, index)]
                if why
            )
            + " ".join(
                f" On set ({k}), {index} index, {tool} was not measured: {why}."
                for (k, index, tool), why in self.bench.dropped.items()
            ),
            "",
            "## Times, CPU, memory, pins",
            "",
            "Medians; `pins` is runtime pins (`+ Nb`: lockbuild's build pins in "
            "requirements-build.txt).",
            "",
            *markdown_table(self.MAIN_HEADER, self.main_rows()),
            "",
            "### Ratios of medians, wall and CPU",
            "",
            *markdown_table(self.ratio_header(), self.ratio_rows()),
            "",
        ]
        if self.recording_rows():
            lines += [
                "### Recording passes",
                "",
                "The first cold run of each tool, through the copy while it filled itself from "
                "the public index (the network in the way; a later tool finds most answers "
                "already stored, so these rows are not a comparison). "
                + (self.copy_note + "." if self.copy_note else ""),
                "",
                *markdown_table(self.RECORDING_HEADER[:-1] + ("",), self.recording_rows()),
                "",
            ]
        missed = self.missed_lines()
        lines += [
            "### Requests the copy could not answer",
            "",
            *([f"- {line}" for line in missed] or ["- none: every measured run was served whole"]),
            "",
            "### Runtime pins compared",
            "",
            *[f"- {line}" for line in self.pin_lines()],
            "",
            BUILD_ALL_HEADING,
            "",
            "Cold lockbuild runs locking the build requirements of every release that "
            "has an sdist (each sdist is read and its backend asked), beside the plain "
            "lock of the same set. The build sides of releases installed from wheels are "
            "added where they fit the plain lock, so no runtime pin should differ; a release "
            "whose build side does not fit is named (the build file's header lists it).",
            "",
            *([f"- {line}" for line in self.build_all_lines()] or ["- not measured"]),
            "",
            "### Start-up",
            "",
            *[
                f"- `lockbuild {'check' if k == 'check' else '--help'}`: "
                + (f"{fmt(v[0])} s (median of {cfg.startup_repeat})" if v[0] else v[1])
                for k, v in self.startup.items()
            ],
            "",
        ]
        for key, cuts in self.growth.items():
            if len(cuts) < 2:
                continue
            tools = [t for t in GROWTH_TOOLS if t in cfg.tools]
            header = ["top-level", "pins"]
            header += [f"{t} {c} wall / cpu" for t in tools for c in (COLD, WARM)]
            header += ["lockbuild cold peak MiB", "uv cold peak MiB", "forwarded"]
            lines += [
                f"## Growth: set ({key}) cut to its first N requirements",
                "",
                f"Median seconds, wall / CPU; {cfg.growth_repeat} warm run(s) and 1 cold run "
                f"per cut and tool on the {self.head} index, the full set as above. "
                "`forwarded`: requests of the cut's runs the copy did not hold yet.",
                "",
                *markdown_table(header, self.growth_rows(key)),
                "",
            ]
            for tool in tools:
                parts = []
                for cache in (COLD, WARM):
                    for cpu in (False, True):
                        exp = growth_exponent(self.growth_points(key, tool, cache, cpu))
                        parts.append(f"{cache} {'CPU' if cpu else 'wall'} {fmt(exp)}")
                lines.append(f"- {tool}: growth exponent (log-log slope) " + ", ".join(parts))
            lines += ["", "![wall and CPU time against number of pins](growth.png)", ""]
            if self.plot_note:
                lines += [self.plot_note, ""]
        lines += [
            "## Targets (issue 24, round three)",
            "",
            f"Judged on the {self.head} index's medians.",
            "",
            *markdown_table(
                ("target", "measured", "verdict"),
                [
                    [t.name, fmt_target(t) + (f" — {t.note}" if t.note else ""), t.verdict]
                    for t in self.targets()
                ],
            ),
            "",
            "## How long each part took",
            "",
            *markdown_table(self.PHASE_HEADER, self.phase_rows()),
            "",
        ]
        failures = self.failures()
        if failures:
            lines += ["## Failed runs", ""]
            for run in failures:
                lines += [
                    f"- set {run.label}, {run.tool} ({run.index}, {run.cache}), exit "
                    f"{run.returncode}: `{run.command}`",
                    "",
                    "  ```",
                    *["  " + line for line in run.error.splitlines()],
                    "  ```",
                    "",
                ]
        lines += [NOTES_MARKER, "", previous_notes.strip() or DEFAULT_NOTES, ""]
        return "\n".join(lines)

    def json(self) -> dict[str, object]:
        tools = [t for t in GROWTH_TOOLS if t in self.config.tools]
        return {
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "command": self.config.command,
            "facts": self.facts,
            "indexes": list(self.config.indexes),
            "growth": {k: v for k, v in self.growth.items()},
            "startup": {k: v[0] for k, v in self.startup.items()},
            "phases": self.bench.phases,
            "runs": [run_record(r) for sm in self.bench.summaries.values() for r in sm.runs],
            "growth_points": {
                key: {
                    f"{tool} {cache} {'cpu' if cpu else 'wall'}": self.growth_points(
                        key, tool, cache, cpu
                    )
                    for tool in tools
                    for cache in (COLD, WARM)
                    for cpu in (False, True)
                }
                for key in self.growth
            },
        }


def run_record(run: Run) -> dict[str, object]:
    """A run for results.json: counts instead of the pins themselves, to keep it small."""
    record = asdict(run)
    record["pins"] = len(run.pins)
    record["build_pins"] = len(run.build_pins)
    return record


NOTES_MARKER = "## Analysis (kept across runs; edit by hand)"
DEFAULT_NOTES = "_No analysis written yet._"


def previous_notes(path: Path) -> str:
    """The hand-written analysis at the end of an earlier RESULTS.md, kept verbatim."""
    if not path.exists():
        return ""
    text = path.read_text()
    if NOTES_MARKER not in text:
        return ""
    return text.split(NOTES_MARKER, 1)[1]


BUILD_ALL_HEADING = "### Set (c) with `--build-deps-for all`"


def section_body(text: str, heading: str) -> str | None:
    """What stands under the line ``heading`` up to the next heading (None: no such line)."""
    marker = "\n" + heading + "\n"
    start = text.find(marker)
    if start < 0:
        return None
    start += len(marker)
    end = text.find("\n#", start)
    return text[start : end + 1 if end >= 0 else len(text)]


def keep_earlier_section(text: str, previous: str, heading: str, measured: bool) -> str:
    """``text`` with the section under ``heading`` as the earlier RESULTS.md had it, when
    this run did not measure it and that one did (a section measured by a run of its own,
    such as set c with --build-deps-for all, is not lost to "not measured" by a run of
    other sets; it names the run that measured it)."""
    if measured:
        return text
    earlier, now = section_body(previous, heading), section_body(text, heading)
    if earlier is None or now is None or earlier.rstrip().endswith("- not measured"):
        return text
    start = text.find("\n" + heading + "\n") + len(heading) + 2
    return text[:start] + earlier + text[start + len(now) :]


def say(message: str) -> None:
    print(message, flush=True)


# --- main ----------------------------------------------------------------------------------


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def parse_args(argv: Sequence[str] | None) -> Config:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sets",
        default=os.environ.get("BENCH_SETS") or ",".join(SETS),
        help="comma-separated input sets (" + ", ".join(SETS) + "); env BENCH_SETS",
    )
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated tools to compare")
    parser.add_argument(
        "--repeat",
        type=int,
        default=env_int("BENCH_REPEAT", 3),
        help="warm runs per tool and set (env BENCH_REPEAT, default 3)",
    )
    parser.add_argument(
        "--cold-repeat",
        type=int,
        default=env_int("BENCH_COLD_REPEAT", 2),
        help="cold runs per tool and set (env BENCH_COLD_REPEAT, default 2)",
    )
    parser.add_argument(
        "--growth-sizes",
        default=os.environ.get("BENCH_GROWTH_SIZES") or "100,300,600",
        help=f"cuts of set {GROWTH_SET} for the growth plot, in top-level requirements (the "
        "whole set is added; env BENCH_GROWTH_SIZES, default 100,300,600); '' for none",
    )
    parser.add_argument(
        "--growth-repeat",
        type=int,
        default=env_int("BENCH_GROWTH_REPEAT", 1),
        help=f"warm runs per tool for each cut of set {GROWTH_SET} (default 1; one cold run each)",
    )
    parser.add_argument(
        "--index",
        choices=(PUBLIC, LOOPBACK, "both"),
        default=os.environ.get("BENCH_INDEX") or LOOPBACK,
        help="measure on the public index, on a loopback copy of it (recorded by one cold "
        "run of each tool per set, then served locally), or both (env BENCH_INDEX, default "
        "loopback)",
    )
    parser.add_argument(
        "--mirror-store",
        type=Path,
        default=Path(os.environ["BENCH_MIRROR_STORE"])
        if os.environ.get("BENCH_MIRROR_STORE")
        else None,
        help="keep the loopback copy's store in this directory (reused by a later run: "
        "answers already stored are not fetched again); default: a temporary directory",
    )
    parser.add_argument(
        "--first",
        type=int,
        default=0,
        metavar="N",
        help="a trial: cut every set to its first N requirement lines (default: whole sets)",
    )
    parser.add_argument(
        "--skip-recording",
        action="store_true",
        help="no recording pass: the --mirror-store given was filled by an earlier run of "
        "the same sets (what is missing is a 404, counted in the report)",
    )
    parser.add_argument(
        "--with-slow",
        action="store_true",
        help="on the loopback copy, also run what a set skips for time (pip-compile on "
        "set ha: tens of minutes a run, judged by a trial on its first 50 lines)",
    )
    parser.add_argument(
        "--no-build-all",
        action="store_true",
        help="skip the run of set c with --build-deps-for all",
    )
    parser.add_argument("--startup-repeat", type=int, default=7, help="runs of --help and check")
    parser.add_argument(
        "--timeout", type=float, default=1200, help="seconds before a run is killed"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "RESULTS.md")
    parser.add_argument("--json", type=Path, default=BENCH_DIR / "results.json")
    parser.add_argument("--plot", type=Path, default=BENCH_DIR / "growth.png")
    parser.add_argument(
        "--plot-python",
        default=os.environ.get("BENCH_PLOT_PYTHON"),
        help="interpreter with matplotlib that runs bench/plot.py (default: this one)",
    )
    parser.add_argument(
        "--lockbuild-ref",
        default=os.environ.get("BENCH_LOCKBUILD_REF") or None,
        help="measure lockbuild as committed at this git ref (default: the work tree)",
    )
    parser.add_argument("--command-label", default=os.environ.get("BENCH_COMMAND") or "")
    args = parser.parse_args(argv)
    if args.skip_recording and not args.mirror_store:
        parser.error("--skip-recording needs --mirror-store (a store an earlier run filled)")
    sets = tuple(s.strip() for s in args.sets.split(",") if s.strip())
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        parser.error(f"unknown set(s) {unknown}; choose from {sorted(SETS)}")
    tools = tuple(t.strip() for t in args.tools.split(",") if t.strip())
    if LOCKBUILD not in tools or any(t not in TOOLS for t in tools):
        parser.error(f"--tools must include lockbuild and only name {TOOLS}")
    invoked = "python bench/run.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    return Config(
        sets=sets,
        tools=tools,
        repeat=max(1, args.repeat),
        cold_repeat=max(1, args.cold_repeat),
        growth_sizes=tuple(int(x) for x in args.growth_sizes.split(",") if x.strip()),
        growth_repeat=max(1, args.growth_repeat),
        indexes=INDEXES if args.index == "both" else (args.index,),
        mirror_store=args.mirror_store,
        build_all=not args.no_build_all,
        first=max(0, args.first),
        with_slow=args.with_slow,
        recording=not args.skip_recording,
        startup_repeat=max(1, args.startup_repeat),
        timeout=args.timeout,
        keep=args.keep,
        results_md=args.results,
        results_json=args.json,
        plot_png=args.plot,
        plot_python=args.plot_python,
        lockbuild_ref=args.lockbuild_ref,
        command=(args.command_label + " → " if args.command_label else "") + invoked.strip(),
    )


def find_tools(workdir: Path, ref: str | None) -> Tools:
    bindir = Path(sys.executable).parent

    def tool_path(name: str) -> str:
        local = bindir / name
        found = str(local) if local.exists() else shutil.which(name)
        if not found:
            raise SystemExit(f"bench: {name} not found beside {sys.executable} or on PATH")
        return found

    src = workdir / "src"
    src.mkdir()
    note = snapshot_lockbuild(src, ref)
    return Tools(
        python=sys.executable,
        pip_compile=tool_path("pip-compile"),
        uv=tool_path("uv"),
        # The snapshot's own entry point (an installed console script would run the
        # entry function the work tree had when it was installed).
        lockbuild_script=[sys.executable, "-m", "lockbuild"],
        lockbuild_pythonpath=str(src),
        source_note=note,
    )


def run_plot(config: Config, data_path: Path) -> str:
    """Draw growth.png with bench/plot.py; return a note when it could not be drawn."""
    python = config.plot_python or sys.executable
    try:
        proc = subprocess.run(
            [python, str(BENCH_DIR / "plot.py"), str(data_path), str(config.plot_png)],
            capture_output=True,
            text=True,
        )
    except OSError as exc:
        return f"_growth.png was not redrawn: {exc}_"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return f"_growth.png was not redrawn: {tail[0]}_"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    started = datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="lockbuild-bench-"))
    mirror: MirrorProcess | None = None
    try:
        tools = find_tools(workdir, config.lockbuild_ref)
        facts = versions(tools)
        facts["date"] = f"{started:%Y-%m-%d}"
        if LOOPBACK in config.indexes:
            store = config.mirror_store or workdir / "mirror"
            mirror = MirrorProcess(store, RECORD)
            mirror.start()
            held = store_size(store)
            facts["loopback copy"] = (
                f"{mirror.origin} (store {store}"
                + (f", {held[0]} answers held from an earlier run" if held[0] else "")
                + ")"
            )
        say(f"lockbuild benchmark in {workdir}")
        for key, value in facts.items():
            say(f"  {key}: {value}")
        bench = Bench(config, tools, workdir, mirror)
        growth: dict[str, list[tuple[str, int]]] = {}
        startup: dict[str, tuple[float | None, str]] = {}

        say("lockbuild --help:")
        startup["help"] = bench.time_command("help", [*tools.lockbuild_script, "--help"], workdir)
        for key in config.sets:
            input_set = SETS[key]
            if config.first:
                cut_dir = workdir / "first"
                cut_dir.mkdir(exist_ok=True)
                reqs = input_set.requirements()[: config.first]
                (cut_dir / input_set.filename).write_text("\n".join(reqs) + "\n")
                input_set = replace(input_set, where=cut_dir)
            if config.with_slow:
                input_set = replace(input_set, skipped_loopback=())
            for index in config.indexes:
                say(
                    f"set {key} ({input_set.filename}, {len(input_set.requirements())} "
                    f"requirements), {index} index:"
                )
                bench.measure(
                    key,
                    input_set.path,
                    input_set.cold_repeat or config.cold_repeat,
                    input_set.warm_repeat or config.repeat,
                    index=index,
                    resolving=True,
                    input_set=input_set,
                )
            if key == "a":
                startup["check"] = measure_check(bench, tools)
            if key == "c" and LOCKBUILD in config.tools and config.build_all:
                for index in config.indexes:
                    say(f"set c with --build-deps-for all (lockbuild, cold), {index} index:")
                    bench.measure(
                        BUILD_ALL,
                        input_set.path,
                        1,
                        0,
                        index=index,
                        tools=[LOCKBUILD],
                        extra=BUILD_ALL_ARGS,
                    )
            if key == GROWTH_SET and config.growth_sizes:
                # On the headline index only: the cuts are there to show a shape.
                index = LOOPBACK if LOOPBACK in config.indexes else PUBLIC
                sizes = bench.growth(input_set, index)
                growth[key] = [(f"{key}{n}", n) for n in sizes]
                growth[key].append((key, len(input_set.requirements())))
        finished = datetime.now(UTC)
        loads = [r.load for sm in bench.summaries.values() for r in sm.runs]
        if loads:
            facts["load average"] = (
                f"{min(loads):.2f}–{max(loads):.2f} (1-minute, sampled as each run started; "
                f"{os.cpu_count()} cores)"
            )
        report = Report(config, started, finished, facts, bench, growth, startup)
        if mirror is not None:
            count, size = store_size(mirror.root)
            report.copy_note = f"The copy held {count} answers, {size / 2**20:.0f} MiB, at the end"
        config.results_json.write_text(json.dumps(report.json(), indent=1) + "\n")
        if growth:
            report.plot_note = run_plot(config, config.results_json)
        say("")
        say(report.text())
        notes = previous_notes(config.results_md)
        previous = config.results_md.read_text() if config.results_md.exists() else ""
        text = keep_earlier_section(
            report.markdown(notes), previous, BUILD_ALL_HEADING, bool(report.build_all_lines())
        )
        config.results_md.write_text(text)
        say(f"\nwrote {display(config.results_md)} and {display(config.results_json)}")
        return 0
    finally:
        if mirror is not None:
            mirror.stop()
        if config.keep:
            say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def measure_check(bench: Bench, tools: Tools) -> tuple[float | None, str]:
    """Time ``lockbuild check`` on the lockfile of set (a), if the command exists."""
    probe = subprocess.run(
        [*tools.lockbuild_script, "check", "--help"],
        capture_output=True,
        env=tools.env(LOCKBUILD, bench.workdir / "caches" / "startup"),
    )
    if probe.returncode != 0:
        return None, "not available yet"
    if bench.check_dir is None:
        return None, "no lockfile of set (a) to check"
    say("lockbuild check on set a:")
    argv = [*tools.lockbuild_script, "check", "-q", "requirements.in"]
    return bench.time_command("check", argv, bench.check_dir)


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
