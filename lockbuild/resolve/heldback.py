"""Held back, explained: runtime pins that a build edge kept below their newest usable
release, and the requirements that did it.

A pin is held back by a build edge when the newest release that its own runtime
requirements allow (and that has a file usable on the target) is newer than the pin and

- the newest release is built from source and one of its build requirements does not
  admit the locked version of that project (``pyworld 0.3.5 (build) requires numpy>=2``,
  while the lock holds ``numpy<2``), or
- a build edge's requirement on the pin excludes the newest release
  (``extmod 1.0 (build) requires corelib<2``), or a requirement of a build tool does,
  through a chain of build environments (``oldest-supported-numpy 2023.12.21 requires
  numpy==1.23.2 (in the build environment of ctc-segmentation 1.7.4)``), or a build edge
  admits only releases uploaded before the newest one (--build-deps-as-of-release).

The account is written into the lockfile under the pin (``# held back (newest X): ...``)
so that ``why`` can say it without the network and a replayed compile prints it again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from lockbuild.errors import LockbuildError
from lockbuild.model import PYTHON, Candidate, Kind, Req

# start-up speed: conflict and files (describe_requirement, choose_file) are imported in
# the functions that explain a pin; a replayed compile reads the lock's lines without them.
if TYPE_CHECKING:
    # start-up speed: a replayed compile reads held-back notes without the resolver
    from lockbuild.resolve.provider import Provider

NOTE = "held back"
_NOTE = re.compile(r"^held back \(newest ([^)\s]+)\): (.+)$")


@dataclass(frozen=True)
class HeldBack:
    """Why ``name`` is locked at ``version`` although ``newest`` is usable."""

    name: str
    version: str
    newest: str
    reasons: tuple[str, ...]

    def note(self) -> str:
        """The annotation written under the pin."""
        return f"{NOTE} (newest {self.newest}): {'; '.join(self.reasons)}"

    def line(self) -> str:
        """The line compile prints and why shows."""
        return f"{self.name} {self.version} (newest {self.newest}): {'; '.join(self.reasons)}"


def from_lockfile(text: str) -> list[HeldBack]:
    """Every held-back pin recorded in a lockfile's text (what compile prints)."""
    found = []
    pin = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
    current: tuple[str, str] | None = None
    for raw in text.splitlines():
        match = pin.match(raw)
        if match:
            current = (match.group(1), match.group(2).rstrip("\\"))
        elif raw.startswith("    # ") and current is not None:
            held = from_note(*current, raw[len("    # ") :])
            if held is not None:
                found.append(held)
        elif raw and not raw.startswith(" "):
            current = None
    return found


def from_note(name: str, version: str, note: str) -> HeldBack | None:
    """A HeldBack from its annotation (None when ``note`` is not one)."""
    match = _NOTE.match(note.strip())
    if match is None:
        return None
    return HeldBack(name, version, match.group(1), tuple(match.group(2).split("; ")))


Information = Mapping[str, Sequence[tuple[Req, Candidate | None]]]


def find(
    provider: Provider,
    information: Information,
    locked: Mapping[NormalizedName, Version],
    runtime: Iterable[str],
) -> dict[str, HeldBack]:
    """Every pin of ``runtime`` that a build edge held back (``locked``: every pin)."""
    found: dict[str, HeldBack] = {}
    names = {canonicalize_name(text) for text in runtime}
    for text in sorted(runtime):
        name = canonicalize_name(text)
        if name not in locked:
            continue
        held = _explain(provider, information, name, locked, names)
        if held is not None:
            found[name] = held
    return found


def _requirements_on(
    provider: Provider, information: Information, name: str
) -> list[tuple[Req, Candidate | None]]:
    items = list(information.get(name, ()))
    items += [(c, None) for c in provider.constraints.get(name, [])]
    if any(req.kind == Kind.BUILD for req, _ in items):
        items += [(o, None) for o in provider.build_overrides.get(name, [])]
    return items


def _describe(req: Req, parent: Candidate | None) -> str:
    from lockbuild.resolve.conflict import describe_requirement  # start-up speed, see the top

    if parent is None and req.kind in (Kind.CONSTRAINT, Kind.OVERRIDE):
        return f"{req.origin or req.via}: {req.text}"
    return describe_requirement(req, parent)


def _through_build(req: Req, parent: Candidate | None, runtime: set[NormalizedName]) -> bool:
    """A requirement of a build edge, or of a project only build environments hold."""
    if req.kind in (Kind.BUILD, Kind.OVERRIDE):
        return True
    return parent is not None and parent.name not in runtime


def _build_of(
    information: Information, parent: Candidate, runtime: set[NormalizedName]
) -> Candidate | None:
    """The release in whose build environment ``parent`` (a build-only project) is, up
    the chain of build tools."""
    seen = set()
    current = parent
    while current.key not in seen:
        seen.add(current.key)
        up = None
        for req, grand in information.get(current.key, ()):
            if grand is None:
                continue
            if req.kind == Kind.BUILD:
                return grand
            if grand.name not in runtime:
                up = grand
        if up is None:
            return None
        current = up
    return None


def _describe_chain(
    req: Req, parent: Candidate | None, information: Information, runtime: set[NormalizedName]
) -> str:
    text = _describe(req, parent)
    if req.kind != Kind.BUILD and parent is not None and parent.name not in runtime:
        build = _build_of(information, parent, runtime)
        if build is not None:
            text += f" (in the build environment of {build.name} {build.version})"
    return text


def _excludes(req: Req, newest: Candidate) -> bool:
    if not req.specifier.contains(newest.version, prereleases=True):
        return True
    return (
        req.not_after is not None
        and newest.uploaded is not None
        and newest.uploaded > req.not_after
    )


def _newest_usable(
    provider: Provider, name: NormalizedName, specifier: SpecifierSet, above: Version
) -> Candidate | None:
    """The newest release above ``above`` that ``specifier`` allows and the target can
    use (None when the pin is already the newest)."""
    from lockbuild.resolve.files import choose_file  # start-up speed, see the top

    prereleases = True if provider.options.pre else None
    for release in provider.repository.releases(name):
        if release.version <= above:
            return None
        if not specifier.contains(release.version, prereleases=prereleases):
            continue
        dist = choose_file(release.files, name, provider.target, provider.options, False)
        if dist is None:
            continue
        return Candidate(
            name,
            release.version,
            dist=dist,
            builds=not dist.is_wheel,
            files=release.files,
            uploaded=release.uploaded,
        )
    return None


def _explain(
    provider: Provider,
    information: Information,
    name: NormalizedName,
    locked: Mapping[NormalizedName, Version],
    runtime: set[NormalizedName],
) -> HeldBack | None:
    version = locked[name]
    requirements = _requirements_on(provider, information, name)
    if any(req.url for req, _ in requirements):
        return None
    own = SpecifierSet()
    for req, parent in requirements:
        if not _through_build(req, parent, runtime):
            own &= req.specifier
    newest = _newest_usable(provider, name, own, version)
    if newest is None:
        return None
    # A build edge's requirement on the pin (or a build tool's) that shuts the newest out.
    reasons = [
        _describe_chain(req, parent, information, runtime)
        for req, parent in requirements
        if _through_build(req, parent, runtime) and _excludes(req, newest)
    ]
    if not reasons and newest.builds:
        reasons = _unmet_build_requirements(provider, information, newest, locked, runtime)
    if not reasons:
        return None
    return HeldBack(name, str(version), str(newest.version), tuple(dict.fromkeys(reasons)))


def _unmet_build_requirements(
    provider: Provider,
    information: Information,
    newest: Candidate,
    locked: Mapping[NormalizedName, Version],
    runtime: set[NormalizedName],
) -> list[str]:
    """``newest``'s build requirements the locked versions do not satisfy, each followed
    by what holds that project where it is locked."""
    from lockbuild.resolve.conflict import describe_requirement  # start-up speed, see the top

    reasons: list[str] = []
    try:
        texts = provider.repository.build_requires(newest)
    except LockbuildError:  # an explanation never fails a compile
        return []
    for text in texts:
        requirement = Requirement(text)
        if not provider.target.evaluate(requirement.marker, [""]):
            continue
        dep = canonicalize_name(requirement.name)
        if dep == PYTHON or dep not in locked:
            continue
        if requirement.specifier.contains(locked[dep], prereleases=True):
            continue
        holders = _holders(provider, information, dep, requirement.specifier, runtime)
        if not holders:
            # Nothing but the existing pins (preferences) keeps that project where it
            # is: the release is not held back by a build edge, only not upgraded.
            continue
        req = Req.from_requirement(requirement, Kind.BUILD)
        reasons.append(describe_requirement(req, newest))
        reasons += holders
    return reasons


def _holders(
    provider: Provider,
    information: Information,
    name: NormalizedName,
    wanted: SpecifierSet,
    runtime: set[NormalizedName],
) -> list[str]:
    """The requirements on ``name`` that admit no known version ``wanted`` admits."""
    versions = [r.version for r in provider.repository.releases(name)]
    fitting = [v for v in versions if wanted.contains(v, prereleases=True)]
    return [
        _describe_chain(req, parent, information, runtime)
        for req, parent in _requirements_on(provider, information, name)
        if not any(req.specifier.contains(v, prereleases=True) for v in fitting)
    ]
