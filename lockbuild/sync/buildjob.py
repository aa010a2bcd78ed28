"""What sync builds from source, as values: the sdist pins a pair's headers name, a build
job (the sdist and the locked pins of its build environment), its result, the jobs in
build-dependency order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name

from lockbuild.build.provenance import BuildRecord, env_digest
from lockbuild.errors import BuildError
from lockbuild.lock.model import (
    SCOPED,
    SCOPED_HASHES,
    SDIST,
    LockedFile,
    LockedPin,
    parse_via,
)
from lockbuild.model import normalized_pins


@dataclass(frozen=True)
class SdistPin:
    """A pin the lock builds from an index's sdist on its target (a ``lockbuild-sdist``
    header line: ``name==version filename sha256:hex``)."""

    name: NormalizedName
    version: str
    filename: str
    sha256: str | None = None


def parse_sdist_line(text: str) -> SdistPin | None:
    words = text.split()
    if len(words) not in (2, 3) or "==" not in words[0]:
        return None
    name, _, version = words[0].partition("==")
    digest = None
    if len(words) == 3:
        if not words[2].startswith("sha256:") or len(words[2]) != 71:
            return None
        digest = words[2].removeprefix("sha256:").lower()
    if not name or not version or "/" in words[1]:
        return None
    return SdistPin(canonicalize_name(name), version, words[1], digest)


def sdist_pins(*files: LockedFile) -> dict[NormalizedName, SdistPin]:
    """Every pin the pair builds from source, read from both files' headers."""
    found: dict[NormalizedName, SdistPin] = {}
    for locked in files:
        for line in locked.meta.get(SDIST, []):
            pin = parse_sdist_line(line)
            if pin is not None:
                found.setdefault(pin.name, pin)
    return found


def parse_scoped_line(text: str) -> tuple[NormalizedName, str, tuple[tuple[str, str], ...]] | None:
    """A ``lockbuild-scoped`` header line's value: (name, version, its environment's
    pins); None when it is not one."""
    head, sep, rest = text.strip().partition(": ")
    name, eq, version = head.partition("==")
    if not sep or not eq or not name or not version or " " in head:
        return None
    pins: list[tuple[str, str]] = []
    for item in rest.split(", "):
        if item == "(empty)":
            continue
        pin, eq, pinned = item.strip().partition("==")
        if not eq or not pin or not pinned or " " in item.strip():
            return None
        pins.append((canonicalize_name(pin), pinned))
    return canonicalize_name(name), version, tuple(pins)


def scoped_environments(
    *files: LockedFile,
) -> dict[NormalizedName, tuple[str, tuple[LockedPin, ...]]]:
    """The builds a pair gives an environment of their own: name -> (version, its pins,
    taken from the pair where the pair pins that version, so their hashes come along)."""
    found: dict[NormalizedName, tuple[str, tuple[LockedPin, ...]]] = {}
    hashes: dict[tuple[str, str], tuple[str, ...]] = {}
    for locked in files:
        for line in locked.meta.get(SCOPED_HASHES, []):
            pin, *digests = line.split()
            pin_name, _, pin_version = pin.partition("==")
            hashes[(canonicalize_name(pin_name), pin_version)] = tuple(
                d.removeprefix("sha256:").lower() for d in digests if d.startswith("sha256:")
            )
    for locked in files:
        for line in locked.meta.get(SCOPED, []):
            parsed = parse_scoped_line(line)
            if parsed is None or parsed[0] in found:
                continue
            name, version, pairs = parsed
            pins = []
            for pin_name, pin_version in pairs:
                known = next(
                    (
                        f.pins[NormalizedName(pin_name)]
                        for f in files
                        if pin_name in f.pins
                        and f.pins[NormalizedName(pin_name)].version == pin_version
                    ),
                    None,
                )
                pins.append(
                    known
                    or LockedPin(
                        NormalizedName(pin_name),
                        pin_version,
                        f"{pin_name}=={pin_version}",
                        (),
                        hashes.get((pin_name, pin_version), ()),
                    )
                )
            found[name] = (version, tuple(pins))
    return found


@dataclass(frozen=True)
class BuildJob:
    sdist: SdistPin
    pins: tuple[LockedPin, ...]  # what goes into its build environment
    hashes: tuple[str, ...] = ()  # allowed sha256 of the sdist (from the lock's --hash)

    @property
    def environment(self) -> tuple[str, ...]:
        return normalized_pins((p.name, p.version) for p in self.pins)

    @property
    def digest(self) -> str:
        return env_digest(self.environment)

    @property
    def label(self) -> str:
        return f"{self.sdist.name} {self.sdist.version}"


@dataclass(frozen=True)
class BuildResult:
    job: BuildJob
    wheel: Path
    record: BuildRecord
    reused: bool
    log: Path | None = None
    sha256: str = ""  # of the wheel as checked before it is installed

    def describe(self) -> str:
        verb = "reused" if self.reused else "built"
        return f"{verb} {self.job.label} against {self.record.against()}"


def plan_jobs(
    names: Iterable[NormalizedName],
    sdists: Mapping[NormalizedName, SdistPin],
    environment: Callable[[NormalizedName], Sequence[LockedPin]],
    hashes: Callable[[NormalizedName], tuple[str, ...]],
) -> dict[NormalizedName, BuildJob]:
    """The jobs for ``names`` and, first, for every sdist their build environments need."""
    jobs: dict[NormalizedName, BuildJob] = {}
    visiting: list[NormalizedName] = []

    def visit(name: NormalizedName) -> None:
        if name in jobs:
            return
        if name in visiting:
            chain = " -> ".join([*visiting[visiting.index(name) :], name])
            raise BuildError(f"cannot build: the build environments form a cycle: {chain}")
        visiting.append(name)
        pins = tuple(environment(name))
        for pin in pins:
            if pin.name in sdists:
                visit(pin.name)
        visiting.pop()
        jobs[name] = BuildJob(sdists[name], pins, hashes(name))

    for name in names:
        visit(name)
    return jobs


def build_dependencies(build: LockedFile, project: str) -> list[LockedPin]:
    """The build file's pins that go into ``project``'s build environment: those marked
    ``<project> (build)`` in their annotations, and what those need in turn."""
    name = canonicalize_name(project)
    chosen: dict[NormalizedName, LockedPin] = {}
    for pin in build.pins.values():
        if any(v.kind == "pin" and v.parent == name and v.build for v in map(parse_via, pin.via)):
            chosen[pin.name] = pin
    grew = True
    while grew:
        grew = False
        for pin in build.pins.values():
            if pin.name in chosen:
                continue
            vias = map(parse_via, pin.via)
            if any(v.kind == "pin" and v.parent in chosen and not v.build for v in vias):
                chosen[pin.name] = pin
                grew = True
    return sorted(chosen.values(), key=lambda p: p.name)


def with_sha256(job: BuildJob, sha: str) -> BuildJob:
    """``job`` with its sdist's sha256 (a pin whose header line recorded none)."""
    sdist = SdistPin(job.sdist.name, job.sdist.version, job.sdist.filename, sha)
    return BuildJob(sdist, job.pins, job.hashes)
