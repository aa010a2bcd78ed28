"""The sync plan: what must change so that an environment holds exactly a lockfile's
pins (install, upgrade, downgrade, reinstall from a reference, rebuild against the
locked build environment, remove), decided from what the interpreter reported."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.markers import InvalidMarker, Marker
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from lockbuild.build.provenance import difference, python_key
from lockbuild.lock.model import LockedFile, LockedPin
from lockbuild.sync.buildjob import BuildJob
from lockbuild.sync.interpreter import Environment, Installed

INSTALL, UPGRADE, DOWNGRADE, REINSTALL, REBUILD, REMOVE = (
    "install",
    "upgrade",
    "downgrade",
    "reinstall",
    "rebuild",
    "remove",
)


@dataclass(frozen=True)
class Change:
    action: str
    name: NormalizedName
    old: str | None = None
    new: str | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.action == REBUILD:
            return f"rebuild {self.name} {self.old}: {self.reason}"
        if self.action == INSTALL:
            return f"install {self.name} {self.new or ''}".rstrip()
        if self.action == REMOVE:
            return f"remove {self.name} {self.old}"
        if self.action == REINSTALL:
            return f"reinstall {self.name} {self.old} (from its locked reference)"
        return f"{self.action} {self.name} {self.old} -> {self.new}"


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...] = ()
    unchanged: tuple[NormalizedName, ...] = ()
    kept: tuple[NormalizedName, ...] = ()  # unlisted tooling left alone

    @property
    def installs(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action != REMOVE)

    @property
    def removals(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action == REMOVE)

    def counts(self) -> dict[str, int]:
        counts = {a: 0 for a in (INSTALL, UPGRADE, DOWNGRADE, REINSTALL, REBUILD, REMOVE)}
        for change in self.changes:
            counts[change.action] += 1
        return counts


def applies(pin: LockedPin, markers: Mapping[str, str]) -> bool:
    """Whether a pin's marker (if it has one) holds in the target environment."""
    _, sep, marker_text = pin.line.partition(";")
    if not sep or pin.line.startswith("-"):
        return True
    try:
        return Marker(marker_text.strip()).evaluate({**markers, "extra": ""})
    except InvalidMarker:
        return True


def _reference(pin: LockedPin) -> str | None:
    """The URL of a direct-reference or editable pin."""
    if pin.line.startswith("-e"):
        url = pin.line[2:].strip().split()[0] if pin.line[2:].strip() else ""
    else:
        _, at, rest = pin.line.partition("@")
        if not at:
            return None
        url = rest.split(";")[0].strip()
    # direct_url.json records the URL without its fragment (#egg=, #sha256=...).
    return url.split("#", 1)[0] or None


def same_version(installed: str, locked: str) -> bool:
    if installed == locked:
        return True
    try:
        return Version(installed) == Version(locked)
    except InvalidVersion:
        return False


def make_plan(
    locked: LockedFile,
    env: Environment,
    protected: Iterable[NormalizedName] = (),
    builds: Mapping[NormalizedName, BuildJob] | None = None,
) -> Plan:
    """What must change so that the environment holds exactly the lockfile's pins; a pin
    in ``builds`` (built from its sdist on this target) matches only when its build
    record says it was built from that sdist against exactly that build environment."""
    builds = builds or {}
    installed = env.by_name
    markers = dict(env.markers)
    wanted = {name: pin for name, pin in locked.pins.items() if applies(pin, markers)}
    changes: list[Change] = []
    unchanged: list[NormalizedName] = []
    for name in sorted(wanted):
        pin = wanted[name]
        have = installed.get(name)
        if not pin.version:  # a direct reference: compare where it came from
            if have is not None and have.url is not None and have.url == _reference(pin):
                unchanged.append(name)
            elif have is None:
                changes.append(Change(INSTALL, name, None, None))
            else:
                changes.append(Change(REINSTALL, name, have.version, None))
        elif have is None:
            changes.append(Change(INSTALL, name, None, pin.version))
        elif same_version(have.version, pin.version):
            # (an environment that reported no marker values cannot say what it is)
            why = build_mismatch(have, builds.get(name), python_key(markers) if markers else "")
            if why:
                changes.append(Change(REBUILD, name, have.version, pin.version, why))
            else:
                unchanged.append(name)
        else:
            changes.append(
                Change(_direction(have.version, pin.version), name, have.version, pin.version)
            )
    keep = set(protected)
    kept: list[NormalizedName] = []
    for name in sorted(installed):
        if name in wanted:
            continue
        if name in keep:
            kept.append(name)
        else:
            changes.append(Change(REMOVE, name, installed[name].version, None))
    return Plan(tuple(changes), tuple(unchanged), tuple(kept))


def build_mismatch(have: Installed, job: BuildJob | None, python: str = "") -> str:
    """Why an installed build does not match the one the lock prescribes ('' if it does):
    every field of its record is compared (what it was built from, against, and on which
    ``python``, a ``provenance.python_key``; a record edited in any other field does not
    parse)."""
    if job is None:
        return ""
    record = have.record
    if record is None:
        if have.has_record:
            return "its build record was edited or is damaged"
        return "built outside lockbuild (no build record)"
    if job.sdist.sha256 and record.sdist_sha256 != job.sdist.sha256:
        return (
            f"built from another sdist (sha256 {record.sdist_sha256[:12]}…, the lock's is "
            f"{job.sdist.sha256[:12]}…)"
        )
    if (
        canonicalize_name(record.name) != job.sdist.name
        or not same_version(record.version, job.sdist.version)
        or record.sdist != job.sdist.filename
    ):
        return (
            f"its build record names {record.name} {record.version} from {record.sdist}, "
            f"not {job.sdist.filename}"
        )
    if record.environment != job.environment:
        return difference(record.environment, job.environment)
    if python and record.python != python:
        return f"built on {record.python or 'an unrecorded interpreter'}, not on {python}"
    return ""


def _direction(old: str, new: str) -> str:
    try:
        return UPGRADE if Version(new) > Version(old) else DOWNGRADE
    except InvalidVersion:
        return REINSTALL
