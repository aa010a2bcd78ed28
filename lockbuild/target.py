"""The environment a lock is for: its marker values, its wheel tags and its Python."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.markers import Marker, default_environment, prepare_environment
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms, parse_tag, sys_tags
from packaging.version import Version

from lockbuild.errors import UsageError


@dataclass(frozen=True)
class Target:
    """Marker values and supported tags (most preferred first) of the target interpreter."""

    environment: tuple[tuple[str, str], ...]
    tags: tuple[Tag, ...]
    description: str
    # False when the target is described, not at hand: hooks then run on this machine.
    local: bool = True
    # The target's interpreter when one was named (--python): hooks run with it.
    python: str | None = None

    @property
    def env(self) -> dict[str, str]:
        return dict(self.environment)

    def identity(self) -> tuple[tuple[str, str], ...]:
        """The marker values that decide a lock and stay put on one kind of machine (no
        kernel release or patch version), for staleness checks."""
        keep = (
            "implementation_name",
            "os_name",
            "platform_machine",
            "platform_python_implementation",
            "platform_system",
            "python_version",
            "sys_platform",
        )
        return tuple((k, v) for k, v in self.environment if k in keep)

    @property
    def python_version(self) -> Version:
        return Version(self.env["python_full_version"].rstrip("+"))

    def evaluate(self, marker: Marker | None, extras: Sequence[str] = ("",)) -> bool:
        """Whether ``marker`` holds here for any of ``extras`` ('' meaning no extra)."""
        if marker is None:
            return True
        return any(self._holds(marker, extra) for extra in extras or ("",))

    def _holds(self, marker: Marker, extra: str) -> bool:
        """``marker`` evaluated for ``extra``, kept by the marker's identity (with the
        marker, so that an id is never reused): a parsed requirement is shared by all who
        read its text, and its marker is asked again as its release is read, prefetched
        and pinned, and after each backtrack."""
        cache: dict[tuple[int, str], tuple[Marker, bool]] | None = self.__dict__.get(
            "_marker_cache"
        )
        if cache is None:
            cache = {}
            object.__setattr__(self, "_marker_cache", cache)
        key = (id(marker), extra)
        seen = cache.get(key)
        if seen is not None and seen[0] is marker:
            return seen[1]
        answer = marker.evaluate_prepared(self._prepared(extra))
        cache[key] = (marker, answer)
        return answer

    def _prepared(self, extra: str) -> Mapping[str, Any]:
        """The marker environment for ``extra``, made once: ``Marker.evaluate`` reads this
        machine's whole default environment again on every call, thousands per run."""
        cache: dict[str, Mapping[str, Any]] | None = self.__dict__.get("_prepared_cache")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_prepared_cache", cache)
        found = cache.get(extra)
        if found is None:
            found = cache[extra] = prepare_environment({**self.env, "extra": extra})
        return found

    def allows_python(self, spec: SpecifierSet | None) -> bool:
        """Whether ``spec`` (a requires-python) admits this Python; memoized by the
        specifier's identity (kept with it, so that an id is never reused): the thousands
        of files of a project share a handful of them (lenient.requires_python), and
        writing each out to key it by its text cost more than the check."""
        if spec is None:
            return True
        cache: dict[int, tuple[SpecifierSet, bool]] | None = self.__dict__.get("_python_cache")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_python_cache", cache)
        seen = cache.get(id(spec))
        if seen is not None and seen[0] is spec:
            return seen[1]
        answer = spec.contains(self.python_version, prereleases=True)
        cache[id(spec)] = (spec, answer)
        return answer

    def wheel_name_filter(self) -> WheelNameFilter:
        return WheelNameFilter(self.tags)

    def tag_rank(self, tags: frozenset[Tag]) -> int | None:
        """Position of the best tag of a wheel in this target's order; None if unsupported."""
        ranks = self._ranks()
        best = [ranks[t] for t in tags if t in ranks]
        return min(best) if best else None

    def _ranks(self) -> dict[Tag, int]:
        cached: dict[Tag, int] | None = getattr(self, "_rank_cache", None)
        if cached is None:
            cached = {tag: i for i, tag in enumerate(self.tags)}
            object.__setattr__(self, "_rank_cache", cached)
        return cached


class WheelNameFilter:
    """A quick test on a wheel's file name: False only when none of its tags can be
    supported (a superset of the real check, which ``Target.tag_rank`` makes later)."""

    def __init__(self, tags: Sequence[Tag]) -> None:
        self.interpreters = {t.interpreter for t in tags}
        self.abis = {t.abi for t in tags}
        self.platforms = {t.platform for t in tags}
        # Wheels of one project share a handful of tag triples: decide each once.
        self._seen: dict[str, bool] = {}

    @property
    def identity(self) -> str:
        """What decides which names pass (two filters with one identity agree)."""
        return "|".join(
            ",".join(sorted(part)) for part in (self.interpreters, self.abis, self.platforms)
        )

    def __call__(self, filename: str) -> bool:
        parts = filename[:-4].rsplit("-", 3)
        if len(parts) != 4:
            return True  # malformed: let the full parse reject it
        key = parts[1] + "-" + parts[2] + "-" + parts[3]
        known = self._seen.get(key)
        if known is None:
            python, abi, platform = key.lower().split("-")
            known = self._seen[key] = (
                any(x in self.interpreters for x in python.split("."))
                and any(x in self.abis for x in abi.split("."))
                and any(x in self.platforms for x in platform.split("."))
            )
        return known


def current() -> Target:
    """The interpreter running lockbuild."""
    env = {key: str(value) for key, value in default_environment().items()}
    tags = tuple(sys_tags())
    return Target(
        environment=tuple(sorted(env.items())),
        tags=tags,
        description=_describe(env, libc_of(tags)),
    )


def from_report(report: Mapping[str, Any], python: str) -> Target:
    """The target another interpreter (``python``, --python) described: its marker values
    and wheel tags as ``build.probe.markers_and_tags`` read them there (never guessed)."""
    tags: list[Tag] = []
    for text in report["tags"]:
        tags.extend(parse_tag(text))
    env = {str(k): str(v) for k, v in report["env"].items()}
    return Target(
        tuple(sorted(env.items())), tuple(tags), _describe(env, libc_of(tags)), python=python
    )


_PLATFORM_MARKERS = (
    # (platform tag prefix, sys_platform, platform_system, os_name)
    ("manylinux", "linux", "Linux", "posix"),
    ("musllinux", "linux", "Linux", "posix"),
    ("linux", "linux", "Linux", "posix"),
    ("macosx", "darwin", "Darwin", "posix"),
    ("win", "win32", "Windows", "nt"),
)
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}


def _expand_platform(platform: str) -> list[str]:
    """A platform tag and the older ones a wheel for it may also carry (as pip does)."""
    match = re.match(r"^manylinux_(\d+)_(\d+)_(.+)$", platform)
    legacy = re.match(r"^(manylinux1|manylinux2010|manylinux2014)_(.+)$", platform)
    if legacy:
        major, minor = _LEGACY_MANYLINUX[legacy.group(1)]
        match = re.match(r"^(\d+)_(\d+)_(.+)$", f"{major}_{minor}_{legacy.group(2)}")
        if match:
            major, minor, arch = int(match.group(1)), int(match.group(2)), match.group(3)
            return _manylinux(major, minor, arch)
    if match:
        return _manylinux(int(match.group(1)), int(match.group(2)), match.group(3))
    mac = re.match(r"^macosx_(\d+)_(\d+)_(.+)$", platform)
    if mac:
        return list(mac_platforms((int(mac.group(1)), int(mac.group(2))), mac.group(3)))
    return [platform]


def _manylinux(major: int, minor: int, arch: str) -> list[str]:
    tags = []
    for glibc_minor in range(minor, 4, -1):
        tags.append(f"manylinux_{major}_{glibc_minor}_{arch}")
        for legacy, version in _LEGACY_MANYLINUX.items():
            if version == (major, glibc_minor):
                tags.append(f"{legacy}_{arch}")
    return tags


def for_platform(python_version: str | None, platforms: Sequence[str]) -> Target:
    """A target that is not at hand: another Python version and/or platform tags (pip
    download's --python-version/--platform). Markers follow the platform's family."""
    base = current()
    env = base.env
    if python_version:
        # Bounded: tags are made for every minor version down from the one given.
        if not re.fullmatch(r"3\.\d{1,2}(\.\d{1,3})?", python_version):
            raise UsageError(
                f"--python-version {_cut(python_version)}: expected X.Y or X.Y.Z (3.0 to 3.99)"
            )
        parts = python_version.split(".")
        env["python_version"] = ".".join(parts[:2])
        env["python_full_version"] = python_version if len(parts) == 3 else f"{python_version}.0"
        env["implementation_version"] = env["python_full_version"]
    version = tuple(int(x) for x in env["python_version"].split("."))
    for platform in platforms:
        if not re.fullmatch(PLATFORM_TAG, platform):
            raise UsageError(
                f"--platform {_cut(platform)!r}: not a platform tag (manylinux_X_Y_ARCH, "
                "musllinux_X_Y_ARCH, manylinux2014_ARCH, linux_ARCH, macosx_X_Y_ARCH, "
                "win32, win_amd64, win_arm64, ios_X_Y_ARCH_SDK or android_N_ARCH)"
            )
    expanded: list[str] = []
    for platform in platforms:
        expanded += [p for p in _expand_platform(platform) if p not in expanded]
    if platforms:
        first = platforms[0]
        for prefix, sys_platform, system, os_name in _PLATFORM_MARKERS:
            if first.startswith(prefix):
                env.update(sys_platform=sys_platform, platform_system=system, os_name=os_name)
                break
        machine = _machine(first)
        if machine:
            env["platform_machine"] = machine
    if not platforms and not python_version:
        return base
    tags = list(cpython_tags(version, platforms=expanded or None)) + list(
        compatible_tags(version, platforms=expanded or None)
    )
    if platforms:
        description = f"cpython {env['python_version']} {' '.join(platforms)}{GIVEN}"
    else:  # this machine's platform at another Python
        description = _describe({**env, "implementation_name": "cpython"}, libc_of(base.tags))
        description += GIVEN
    return Target(tuple(sorted(env.items())), tuple(tags), description, local=False)


# The platform tags wheels carry (PEP 425, 600, 656, 730, 738; macOS, Windows), by
# family; a machine is lower-case letters, digits and underscores (x86_64, armv7l). As
# text: compiled (and kept by the re module) when a --platform is read (start-up speed).
_ARCH = r"[a-z0-9]+(?:_[a-z0-9]+)*"
PLATFORM_TAG = (
    rf"(?:manylinux|musllinux|macosx)_\d{{1,3}}_\d{{1,3}}_{_ARCH}"
    rf"|manylinux(?:1|2010|2014)_{_ARCH}|linux_{_ARCH}"
    r"|win32|win_(?:amd64|arm64|ia64)"
    rf"|ios_\d{{1,3}}_\d{{1,3}}_{_ARCH}|android_\d{{1,3}}_{_ARCH}"
)


def _cut(text: str, limit: int = 60) -> str:
    """``text`` as an error echoes it: at most ``limit`` characters, the rest counted."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _machine(platform: str) -> str | None:
    if platform.startswith("win"):
        return {"win_amd64": "AMD64", "win32": "x86", "win_arm64": "ARM64"}.get(platform)
    for arch in ("x86_64", "aarch64", "arm64", "i686", "ppc64le", "s390x", "universal2"):
        if platform.endswith(arch):
            return arch
    return None


def _describe(env: Mapping[str, str], libc: str = "") -> str:
    """Python X.Y, not X.Y.Z: a lock checked in CI on another patch release is the same
    lock (as pip-compile's header says only "Python 3.11"). On Linux a musl C library is
    named ("cpython 3.12 linux x86_64 musl"); glibc, where manylinux wheels run, is what a
    Linux target without that word means."""
    text = (
        f"{env.get('implementation_name', '')} {env.get('python_version', '')} "
        f"{env.get('sys_platform', '')} {env.get('platform_machine', '')}"
    )
    return f"{text} musl" if libc == "musl" else text


def libc_of(tags: Sequence[Tag]) -> str:
    """The C library family wheel tags imply: "musl", "glibc", or "" (neither named)."""
    platforms = {t.platform for t in tags}
    if any(p.startswith("musllinux") for p in platforms):
        return "musl"
    if any(p.startswith("manylinux") for p in platforms):
        return "glibc"
    return ""


GIVEN = " (given, not at hand)"


def _recorded_platforms(words: Sequence[str]) -> list[tuple[str | None, str | None, str]]:
    """(sys_platform, machine, libc) each recorded platform stands for ("" libc: any)."""
    if "_" in words[0] or (words[0].startswith(("win", "macosx")) and len(words) == 1):
        found: list[tuple[str | None, str | None, str]] = []
        for tag in words:
            system = next((s for p, s, _, _ in _PLATFORM_MARKERS if tag.startswith(p)), None)
            libc = {"manylinux": "glibc", "musllinux": "musl"}.get(tag.split("_")[0], "")
            found.append((system, _machine(tag), libc))
        return found
    system, machine = words[0], words[1] if len(words) > 1 else None
    if system == "linux":
        libc = words[2] if len(words) > 2 else "glibc"
    else:
        libc = ""
    return [(system, machine, libc)]


def recorded_mismatch(description: str, markers: Mapping[str, str], libc: str = "") -> str | None:
    """How an environment with ``markers`` (and C library family ``libc``, "" when not
    known) differs from the target a lock recorded as ``description``: implementation,
    Python X.Y, operating system, machine and, on Linux, glibc or musl. None when it
    matches, else the environment's own description. A platform tag (a target given to
    compile) stands for its family, machine and C library (manylinux_2_28_x86_64: linux
    x86_64 glibc); a lock given several matches an environment that fits one of them."""
    words = description.removesuffix(GIVEN).split()
    if len(words) < 3:
        return None
    implementation, version = words[0], words[1]
    here = {
        "implementation_name": markers.get("implementation_name", ""),
        "python_version": markers.get("python_version", ""),
        "sys_platform": markers.get("sys_platform", ""),
        "platform_machine": markers.get("platform_machine", ""),
    }

    def fits(system: str | None, machine: str | None, wanted_libc: str) -> bool:
        machines = {machine, *(("x86_64", "arm64") if machine == "universal2" else ())}
        return (
            (system is None or system == here["sys_platform"])
            and (machine is None or here["platform_machine"] in machines)
            and (not wanted_libc or not libc or wanted_libc == libc)
        )

    if (
        implementation != here["implementation_name"]
        or version != here["python_version"]
        or not any(fits(*platform) for platform in _recorded_platforms(words[2:]))
    ):
        described = _describe(here)
        return f"{described} {libc}" if libc and here["sys_platform"] == "linux" else described
    return None
