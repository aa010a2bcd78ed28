"""Benchmark ``lockbuild compile`` against ``pip-compile`` and ``uv pip compile``.

Every tool locks the same checked-in input sets (bench/sets/*.in) against the real public
index, in one run on one machine, with a cold cache (an empty cache directory) and a warm
cache (the directory a previous run filled), several times. The script prints a table of
medians, ratios and peak memory, compares the runtime pins of the tools, times
``lockbuild --help`` and ``lockbuild check``, measures how time grows with the number of
pins (set c cut to several sizes), checks the targets and writes bench/RESULTS.md,
bench/results.json and (through bench/plot.py) bench/growth.png.

Isolation: every tool ignores this machine's pip and uv configuration and gets its own
cache directories (its own, pip's and uv's, and XDG_CACHE_HOME) under a temporary
directory, so a cold run starts from nothing and no tool shares another's cache.

Run it with ``make bench`` (``make bench BENCH_SETS=a`` for a subset); ``--help`` lists the
knobs. It needs the network, so it is not part of ``make test``.
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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

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
    # Tools not run on this set, and why (shown in RESULTS.md).
    skipped: tuple[tuple[str, str], ...] = ()
    # Fewer runs for a set whose single run takes minutes (None: the configured counts).
    cold_repeat: int | None = None
    warm_repeat: int | None = None
    # Growth cuts of this set, in top-level requirements.
    growth_sizes: tuple[int, ...] = ()

    @property
    def path(self) -> Path:
        return self.where / self.filename

    def skip_reason(self, tool: str) -> str:
        return dict(self.skipped).get(tool, "")

    def requirements(self) -> list[str]:
        """The requirement lines of the set, in file order, without comments."""
        lines = (line.split("#", 1)[0].strip() for line in self.path.read_text().splitlines())
        return [line for line in lines if line]


UV_CUTOFF = "2024-08-08T00:00:00Z"

SETS: dict[str, InputSet] = {
    "a": InputSet("a", "a-web-data.in", "wheel-only web/data stack"),
    "b": InputSet("b", "b-sdist-heavy.in", "sdist-heavy, build dependencies locked"),
    "c": InputSet("c", "c-large.in", "large set", growth_sizes=(50, 100, 200)),
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
                "not run: one cold run of ~3,000 requirements would take longer than the "
                "benchmark's time budget on this shared machine",
            ),
        ),
        cold_repeat=1,
        warm_repeat=1,
        growth_sizes=(150, 500),
    ),
}


@dataclass(frozen=True)
class Config:
    sets: tuple[str, ...]
    tools: tuple[str, ...]
    repeat: int
    cold_repeat: int
    growth_sizes: tuple[int, ...]
    growth_repeat: int
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

    @property
    def verdict(self) -> str:
        if self.measured is None:
            return "not measured" + (f" ({self.note})" if self.note else "")
        if self.measured <= self.limit:
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
        self, tool: str, infile: str, outfile: str, cache_root: Path, exclude_newer: str = ""
    ) -> list[str]:
        """The command line of one compile; ``exclude_newer`` is the set's upload cut-off."""
        argv = self.base_argv(tool, infile, outfile, cache_root)
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
    def __init__(self, config: Config, tools: Tools, workdir: Path) -> None:
        self.config = config
        self.tools = tools
        self.workdir = workdir
        self.summaries: dict[tuple[str, str, str], Summary] = {}
        self.counter = 0
        self.check_dir: Path | None = None

    def summary(self, label: str, tool: str, cache: str) -> Summary:
        key = (label, tool, cache)
        if key not in self.summaries:
            self.summaries[key] = Summary(label, tool, cache, [])
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
    ) -> Run:
        """One compile of ``infile`` in a fresh directory (so no earlier lockfile is
        preferred), with the given cache root."""
        self.counter += 1
        rundir = self.workdir / "runs" / f"{self.counter:04d}-{label}-{tool}-{cache}"
        rundir.mkdir(parents=True)
        shutil.copyfile(infile, rundir / "requirements.in")
        cache_root.mkdir(parents=True, exist_ok=True)
        argv = [
            *self.tools.compile_argv(
                tool, "requirements.in", "requirements.txt", cache_root, exclude_newer
            ),
            *extra,
        ]
        env = self.tools.env(tool, cache_root)
        load = os.getloadavg()[0]
        t = timed(argv, env, rundir, self.config.timeout, rundir / f"{tool}-log")
        seconds, peak, code, tail = t.seconds, t.peak_mib, t.returncode, t.error
        run = Run(
            label=label,
            tool=tool,
            cache=cache,
            seconds=seconds,
            cpu_seconds=t.cpu_seconds,
            peak_mib=peak,
            returncode=code,
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
        if tool == LOCKBUILD and label == "a" and code == 0:
            self.check_dir = rundir
        self.summary(label, tool, cache).runs.append(run)
        status = (
            f"{len(run.pins)} pins" + (f" + {len(run.build_pins)} build" if run.build_pins else "")
            if run.ok
            else f"FAILED (exit {code})"
        )
        say(
            f"  [{label}] {tool:<11} {cache} {seconds:8.2f} s (cpu {t.cpu_seconds:6.2f} s) "
            f"{peak:6.0f} MiB  {status}"
        )
        if not run.ok:
            say("    " + tail.replace("\n", "\n    "))
        return run

    def measure(
        self,
        label: str,
        infile: Path,
        cold_repeat: int,
        warm_repeat: int,
        *,
        resolving: bool = False,
        input_set: InputSet | None = None,
    ) -> None:
        """Cold runs (each on an empty cache), then warm runs reusing the last cold cache;
        tools interleaved so that they see the same network conditions. Each warm round
        runs every tool once, lockbuild resolving again (--no-replay) right after its
        replaying run, so that the rows compared are runs paired in time."""
        cutoff = input_set.exclude_newer if input_set else ""
        tools = [t for t in self.config.tools if not (input_set and input_set.skip_reason(t))]
        caches: dict[str, Path] = {}
        for i in range(cold_repeat):
            for tool in tools:
                cache_root = self.workdir / "caches" / f"{label}-{tool}-{i}"
                if tool in caches and not self.config.keep:
                    shutil.rmtree(caches[tool], ignore_errors=True)
                caches[tool] = cache_root
                self.run_compile(label, tool, COLD, infile, cache_root, exclude_newer=cutoff)
        for _ in range(warm_repeat):
            for tool in tools:
                self.run_compile(label, tool, WARM, infile, caches[tool], exclude_newer=cutoff)
                if resolving and tool == LOCKBUILD:
                    self.run_compile(
                        label,
                        LOCKBUILD,
                        WARM_RESOLVING,
                        infile,
                        caches[LOCKBUILD],
                        ["--no-replay"],
                        exclude_newer=cutoff,
                    )
        if not self.config.keep:
            for cache_root in caches.values():
                shutil.rmtree(cache_root, ignore_errors=True)

    def growth(self, input_set: InputSet) -> list[int]:
        """Measure the first N requirements of the set for each configured N; return the
        sizes measured (the whole set is the main measurement of that set)."""
        reqs = input_set.requirements()
        wanted = input_set.growth_sizes if input_set.key != "c" else self.config.growth_sizes
        sizes = sorted({n for n in wanted if 0 < n < len(reqs)})
        for n in sizes:
            cut = self.workdir / f"{input_set.key}-first{n}.in"
            cut.write_text("\n".join(reqs[:n]) + "\n")
            say(f"set {input_set.key}, first {n} requirements:")
            repeat = min(self.config.growth_repeat, input_set.warm_repeat or 99)
            self.measure(f"{input_set.key}{n}", cut, 1, repeat, input_set=input_set)
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

    def s(self, label: str, tool: str, cache: str) -> Summary:
        return self.bench.summary(label, tool, cache)

    def main_rows(self) -> list[list[str]]:
        rows = []
        for key in self.config.sets:
            for cache in (COLD, WARM, WARM_RESOLVING):
                for tool in self.config.tools:
                    sm = self.s(key, tool, cache)
                    if (cache == WARM_RESOLVING or SETS[key].skip_reason(tool)) and not sm.runs:
                        continue
                    pins = f"{len(sm.pins)}" + (
                        f" + {len(sm.build_pins)}b" if sm.build_pins else ""
                    )
                    rows.append(
                        [
                            key,
                            cache,
                            tool,
                            f"{len(sm.good)}/{len(sm.runs)}",
                            fmt(sm.median),
                            fmt(sm.minimum),
                            fmt(sm.maximum),
                            fmt(sm.cpu_median),
                            fmt(sm.peak_mib, 0),
                            pins if sm.good else "—",
                        ]
                    )
        return rows

    def ratio_rows(self) -> list[list[str]]:
        rows = []
        peers = [t for t in self.config.tools if t != LOCKBUILD]
        for key in self.config.sets:
            for cache in (COLD, WARM, WARM_RESOLVING):
                lb = self.s(key, LOCKBUILD, cache).median
                if cache == WARM_RESOLVING and lb is None:
                    continue
                peer_cache = WARM if cache == WARM_RESOLVING else cache
                rows.append(
                    [key, cache]
                    + [
                        fmt(ratio(lb, self.s(key, peer, peer_cache).median), 2, "×")
                        for peer in peers
                    ]
                )
        return rows

    def pin_lines(self) -> list[str]:
        lines = []
        for key in self.config.sets:
            lb = self.s(key, LOCKBUILD, WARM).pins or self.s(key, LOCKBUILD, COLD).pins
            for peer in (PIP_COMPILE, UV):
                if peer not in self.config.tools:
                    continue
                reason = SETS[key].skip_reason(peer)
                if reason:
                    lines.append(f"set {key}: {peer} {reason}")
                    continue
                other = self.s(key, peer, WARM).pins or self.s(key, peer, COLD).pins
                lines.append(compare_pins(key, LOCKBUILD, lb, peer, other))
        return lines

    def build_all_lines(self) -> list[str]:
        """Set c with --build-deps-for all: time, memory, build pins, and the runtime pins
        that differ from the plain lock (a build edge can hold a runtime pin back)."""
        runs = self.s(BUILD_ALL, LOCKBUILD, COLD).runs
        if not runs:
            return []
        run = runs[-1]
        if not run.ok:
            return [f"set c --build-deps-for all: FAILED (exit {run.returncode})"]
        plain = self.s("c", LOCKBUILD, COLD).pins
        differ = sorted(
            f"{n} {plain.get(n, '-')} -> {v}" for n, v in run.pins.items() if plain.get(n) != v
        )
        differ += sorted(f"{n} {v} -> -" for n, v in plain.items() if n not in run.pins)
        return [
            f"set c --build-deps-for all (cold): {fmt(run.seconds)} s, cpu "
            f"{fmt(run.cpu_seconds)} s, peak {run.peak_mib:.0f} MiB, {len(run.pins)} runtime "
            f"pins, {len(run.build_pins)} build pins",
            f"runtime pins that differ from the plain lock of set c: {len(differ)}"
            + (": " + ", ".join(differ) if differ else ""),
            f"releases installed from wheels named not buildable from source under this lock: "
            f"{len(run.not_buildable)}"
            + (": " + "; ".join(run.not_buildable) if run.not_buildable else ""),
            f"builds with a scoped environment: {len(run.scoped)}"
            + (": " + "; ".join(run.scoped) if run.scoped else ""),
        ]

    def growth_points(self, key: str, tool: str, cache: str) -> list[tuple[int, float]]:
        """(pins, median seconds) for each cut of the set and the whole set."""
        points = []
        for label, _ in self.growth.get(key, []):
            sm = self.s(label, tool, cache)
            pins = len(self.s(label, LOCKBUILD, cache).pins) or len(sm.pins)
            if sm.median is not None and pins:
                points.append((pins, sm.median))
        return points

    def growth_rows(self, key: str) -> list[list[str]]:
        rows = []
        for label, n in self.growth.get(key, []):
            pins = len(self.s(label, LOCKBUILD, WARM).pins) or len(self.s(label, UV, WARM).pins)
            row = [str(n), str(pins)]
            for tool in self.config.tools:
                for cache in (COLD, WARM):
                    row.append(fmt(self.s(label, tool, cache).median))
            lb = self.s(label, LOCKBUILD, WARM)
            row.append(fmt(lb.median * 1000 / pins if lb.median and pins else None, 1))
            row.append(fmt(self.s(label, LOCKBUILD, COLD).peak_mib, 0))
            rows.append(row)
        return rows

    def targets(self) -> list[Target]:
        def med(key: str, tool: str, cache: str) -> float | None:
            if key not in self.config.sets or tool not in self.config.tools:
                return None
            return self.s(key, tool, cache).median

        def r(key: str, cache: str, peer: str) -> float | None:
            return ratio(med(key, LOCKBUILD, cache), med(key, peer, cache))

        out: list[Target] = []
        if "a" in self.config.sets:
            out += [
                Target("(a) warm ≤ 1.5× uv", r("a", WARM, UV), 1.5, "x"),
                Target("(a) warm ≤ 0.2× pip-compile", r("a", WARM, PIP_COMPILE), 0.2, "x"),
                Target("(a) cold ≤ 2× uv", r("a", COLD, UV), 2.0, "x"),
            ]
        if "b" in self.config.sets:
            out += [
                Target("(b) cold ≤ 1× uv", r("b", COLD, UV), 1.0, "x"),
                Target("(b) warm ≤ 0.3× uv", r("b", WARM, UV), 0.3, "x"),
                Target("(b) warm ≤ 0.2× pip-compile", r("b", WARM, PIP_COMPILE), 0.2, "x"),
            ]
            build = (
                self.s("b", LOCKBUILD, WARM).build_pins or self.s("b", LOCKBUILD, COLD).build_pins
            )
            names = ", ".join(f"{n}=={v}" for n, v in sorted(build.items()))
            out.append(
                Target(
                    "(b) build dependencies locked (requirements-build.txt not empty)",
                    0.0 if build else 1.0,
                    0.0,
                    "",
                    shown=f"{len(build)} build pins: {names}" if build else "no build pins",
                )
            )
        if "c" in self.config.sets:
            c_runs = [r for cache in (COLD, WARM) for r in self.s("c", LOCKBUILD, cache).runs]
            failed = sum(1 for r in c_runs if not r.ok)
            out.append(
                Target(
                    "(c) completes",
                    float(failed) if c_runs else None,
                    0.0,
                    "",
                    shown=f"{len(c_runs) - failed} of {len(c_runs)} runs completed",
                )
            )
            peaks = [r.peak_mib for r in c_runs if r.ok]
            out.append(
                Target("(c) peak memory ≤ 300 MiB", max(peaks) if peaks else None, 300, "MiB")
            )
            for cache in (WARM, COLD):
                exp = growth_exponent(self.growth_points("c", LOCKBUILD, cache))
                out.append(Target(f"(c) {cache} time grows ≤ linearly with pins", exp, 1.1, "exp"))
        out += self.round_two_targets()
        if "check" in self.startup:
            check, why = self.startup["check"]
            out.append(Target("`lockbuild check` on set (a) ≤ 0.3 s", check, 0.3, "s", note=why))
        help_s, why = self.startup.get("help", (None, "not measured"))
        out.append(Target("`lockbuild --help` ≤ 0.25 s", help_s, 0.25, "s", note=why))
        return out

    def round_two_targets(self) -> list[Target]:
        """Issue 15's goals: cold ≤ 1.2× uv and warm without replay ≤ 1.0× uv on the
        wheel-heavy sets with identical pins; set (b) ahead of uv; the large set completes
        with peak memory at or below uv's."""

        def med(key: str, tool: str, cache: str) -> float | None:
            if key not in self.config.sets or tool not in self.config.tools:
                return None
            return self.s(key, tool, cache).median

        out: list[Target] = []
        for key in ("a", "trio", "jupyter"):
            if key not in self.config.sets:
                continue
            uv_cold, uv_warm = med(key, UV, COLD), med(key, UV, WARM)
            out.append(
                Target(
                    f"({key}) cold ≤ 1.2× uv", ratio(med(key, LOCKBUILD, COLD), uv_cold), 1.2, "x"
                )
            )
            out.append(
                Target(
                    f"({key}) warm without replay ≤ 1.0× uv",
                    ratio(med(key, LOCKBUILD, WARM_RESOLVING), uv_warm),
                    1.0,
                    "x",
                )
            )
            lb = self.s(key, LOCKBUILD, WARM).pins or self.s(key, LOCKBUILD, COLD).pins
            other = self.s(key, UV, WARM).pins or self.s(key, UV, COLD).pins
            same = compare_pins(key, LOCKBUILD, lb, UV, other)
            out.append(
                Target(
                    f"({key}) pins identical to uv's",
                    0.0 if same.endswith(": identical") else 1.0,
                    0.0,
                    "",
                    shown=same.split(": ", 1)[1],
                )
            )
        if "ha" in self.config.sets:
            runs = [
                r for c in (COLD, WARM, WARM_RESOLVING) for r in self.s("ha", LOCKBUILD, c).runs
            ]
            failed = sum(1 for r in runs if not r.ok)
            out.append(
                Target(
                    "(ha) completes",
                    float(failed) if runs else None,
                    0.0,
                    "",
                    shown=f"{len(runs) - failed} of {len(runs)} runs completed",
                )
            )
            lb_peak = max((r.peak_mib for r in runs if r.ok), default=None)
            uv_runs = [r for c in (COLD, WARM) for r in self.s("ha", UV, c).runs if r.ok]
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
        return out

    def failures(self) -> list[Run]:
        return [r for sm in self.bench.summaries.values() for r in sm.runs if not r.ok]

    # --- rendering

    MAIN_HEADER = (
        "set",
        "cache",
        "tool",
        "ok",
        "median s",
        "min s",
        "max s",
        "cpu s",
        "peak MiB",
        "pins",
    )

    def text(self) -> str:
        peers = [t for t in self.config.tools if t != LOCKBUILD]
        lines = [f"lockbuild benchmark, {self.started:%Y-%m-%d %H:%M} UTC"]
        lines += [f"  {k}: {v}" for k, v in self.facts.items()]
        lines += ["", *text_table(self.MAIN_HEADER, self.main_rows()), ""]
        lines += text_table(("set", "cache", *(f"lockbuild/{p}" for p in peers)), self.ratio_rows())
        lines += ["", *self.pin_lines(), ""]
        lines += [*self.build_all_lines(), ""]
        for key, value in self.startup.items():
            what = "check" if key == "check" else "--help"
            lines.append(f"lockbuild {what}: {fmt(value[0])} s {value[1]}".rstrip())
        lines.append("")
        lines += text_table(
            ("target", "measured", "verdict"),
            [[t.name, fmt_target(t), t.verdict] for t in self.targets()],
        )
        return "\n".join(lines)

    def markdown(self, previous_notes: str) -> str:
        cfg = self.config
        peers = [t for t in cfg.tools if t != LOCKBUILD]
        lines = [
            "# lockbuild benchmark results",
            "",
            f"Measured {self.started:%Y-%m-%d %H:%M} – {self.finished:%H:%M} UTC by `{cfg.command}`"
            " (the real public index; tools interleaved, one run at a time).",
            "",
            *markdown_table(("what", "version / fact"), [[k, v] for k, v in self.facts.items()]),
            "",
            f"Runs: {cfg.cold_repeat} cold (each on an empty cache) and {cfg.repeat} warm "
            "(reusing the last cold run's cache) per tool and set; every run writes a fresh "
            "output file, so no earlier lockfile is preferred. Peak memory is the largest "
            "ru_maxrss of the tool's process tree (one process, not a sum). Each tool ignores "
            "the machine's pip/uv configuration (`PIP_CONFIG_FILE=/dev/null`, "
            "`UV_NO_CONFIG=1`, index variables unset) and has its own cache directories. "
            "lockbuild runs as `python -m lockbuild compile -q` (the measured snapshot's "
            "own entry point), pip-compile as "
            "`pip-compile -q --strip-extras --allow-unsafe`, uv as `uv pip compile -q` "
            "(for the same interpreter). A warm lockbuild run replays the result recorded "
            "by an identical earlier run after checking that every index page that run read "
            "is unchanged (all pages are fetched again; this index sends no validators); "
            "the `warm, --no-replay` rows are warm lockbuild runs that resolve again, "
            "compared with the peers' warm runs.",
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
                f"On set ({k}) {tool} is {why}."
                for k in cfg.sets
                for tool, why in SETS[k].skipped
                if tool in cfg.tools
            ),
            "",
            "## Times, memory, pins",
            "",
            "`cpu s` is the median user + system time of the process tree; `pins` is runtime "
            "pins (`+ Nb`: lockbuild's build pins in requirements-build.txt).",
            "",
            *markdown_table(self.MAIN_HEADER, self.main_rows()),
            "",
            "### Ratios of medians",
            "",
            *markdown_table(
                ("set", "cache", *(f"lockbuild / {p}" for p in peers)), self.ratio_rows()
            ),
            "",
            "### Runtime pins compared",
            "",
            *[f"- {line}" for line in self.pin_lines()],
            "",
            "### Set (c) with `--build-deps-for all`",
            "",
            "One cold lockbuild run locking the build requirements of every release that "
            "has an sdist (each sdist is downloaded and its backend asked), beside the plain "
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
            header = ["top-level", "pins"]
            header += [f"{t} {c}" for t in cfg.tools for c in (COLD, WARM)]
            header += ["lockbuild warm ms/pin", "lockbuild cold peak MiB"]
            lines += [
                f"## Growth: set ({key}) cut to its first N requirements",
                "",
                f"Median seconds; {cfg.growth_repeat} warm run(s) and 1 cold run per cut, the "
                "full set as above.",
                "",
                *markdown_table(header, self.growth_rows(key)),
                "",
            ]
            for tool in cfg.tools:
                parts = []
                for cache in (COLD, WARM):
                    exp = growth_exponent(self.growth_points(key, tool, cache))
                    parts.append(f"{cache} {fmt(exp)}")
                lines.append(f"- {tool}: growth exponent (log-log slope) " + ", ".join(parts))
            lines += ["", "![time against number of pins](growth.png)", ""]
            if self.plot_note:
                lines += [self.plot_note, ""]
        lines += [
            "## Targets",
            "",
            *markdown_table(
                ("target", "measured", "verdict"),
                [
                    [t.name, fmt_target(t) + (f" — {t.note}" if t.note else ""), t.verdict]
                    for t in self.targets()
                ],
            ),
            "",
        ]
        failures = self.failures()
        if failures:
            lines += ["## Failed runs", ""]
            for run in failures:
                lines += [
                    f"- set {run.label}, {run.tool} ({run.cache}), exit {run.returncode}: "
                    f"`{run.command}`",
                    "",
                    "  ```",
                    *["  " + line for line in run.error.splitlines()],
                    "  ```",
                    "",
                ]
        lines += [NOTES_MARKER, "", previous_notes.strip() or DEFAULT_NOTES, ""]
        return "\n".join(lines)

    def json(self) -> dict[str, object]:
        return {
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "command": self.config.command,
            "facts": self.facts,
            "growth": {k: v for k, v in self.growth.items()},
            "startup": {k: v[0] for k, v in self.startup.items()},
            "runs": [run_record(r) for sm in self.bench.summaries.values() for r in sm.runs],
            "growth_points": {
                key: {
                    f"{tool} {cache}": self.growth_points(key, tool, cache)
                    for tool in self.config.tools
                    for cache in (COLD, WARM)
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
        default=os.environ.get("BENCH_GROWTH_SIZES") or "50,100,200",
        help="cuts of set c, in top-level requirements (the whole set is added); '' for none",
    )
    parser.add_argument(
        "--growth-repeat",
        type=int,
        default=env_int("BENCH_GROWTH_REPEAT", 2),
        help="warm runs per tool for each cut of set c (default 2; one cold run each)",
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
    proc = subprocess.run(
        [python, str(BENCH_DIR / "plot.py"), str(data_path), str(config.plot_png)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return f"_growth.png was not redrawn: {tail[0]}_"
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    started = datetime.now(UTC)
    workdir = Path(tempfile.mkdtemp(prefix="lockbuild-bench-"))
    try:
        tools = find_tools(workdir, config.lockbuild_ref)
        facts = versions(tools)
        facts["date"] = f"{started:%Y-%m-%d}"
        say(f"lockbuild benchmark in {workdir}")
        for key, value in facts.items():
            say(f"  {key}: {value}")
        bench = Bench(config, tools, workdir)
        growth: dict[str, list[tuple[str, int]]] = {}
        startup: dict[str, tuple[float | None, str]] = {}

        say("lockbuild --help:")
        startup["help"] = bench.time_command("help", [*tools.lockbuild_script, "--help"], workdir)
        for key in config.sets:
            input_set = SETS[key]
            say(f"set {key} ({input_set.filename}, {len(input_set.requirements())} requirements):")
            bench.measure(
                key,
                input_set.path,
                input_set.cold_repeat or config.cold_repeat,
                input_set.warm_repeat or config.repeat,
                resolving=True,
                input_set=input_set,
            )
            if key == "a":
                startup["check"] = measure_check(bench, tools)
            if key == "c" and LOCKBUILD in config.tools:
                say("set c with --build-deps-for all (lockbuild, one cold run):")
                cache_root = workdir / "caches" / f"{BUILD_ALL}-lockbuild"
                bench.run_compile(
                    BUILD_ALL, LOCKBUILD, COLD, input_set.path, cache_root, BUILD_ALL_ARGS
                )
                if not config.keep:
                    shutil.rmtree(cache_root, ignore_errors=True)
            if (key != "c" or config.growth_sizes) and input_set.growth_sizes:
                sizes = bench.growth(input_set)
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
