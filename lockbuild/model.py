"""The value types every layer shares: requirements as the resolver sees them (with the
``Kind`` of edge they are), candidates, and the distribution files an index lists."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

PYTHON = "<python>"


class Kind(StrEnum):
    """What kind of edge a requirement is (its value is the text the graph and outputs
    use: ``Kind.BUILD == "build"``)."""

    INPUT = "input"  # given by the user (a requirements file, the command line)
    PROJECT = "project"  # a local project given as input (its pyproject.toml): built, not pinned
    EDITABLE = "editable"  # an -e input
    RUNTIME = "runtime"  # a Requires-Dist of a pinned candidate
    BUILD = "build"  # a build requirement of an sdist
    CONSTRAINT = "constraint"  # -c / --upgrade-package: binds versions, adds nothing
    OVERRIDE = "override"  # --build-constraint / [tool.lockbuild]: binds build edges only
    EXTRA = "extra"  # an extras candidate's edge to its base at the same version


@dataclass(frozen=True)
class Req:
    """A requirement as the resolver sees it, remembering what kind of edge it is."""

    name: NormalizedName
    extras: frozenset[str]
    specifier: SpecifierSet
    kind: Kind
    text: str
    url: str | None = None
    origin: str | None = None  # "requirements.in line 3" for inputs
    via: str | None = None  # "-r requirements.in" for inputs
    # --build-deps-as-of-release: only releases uploaded no later than this satisfy it.
    not_after: datetime | None = None

    @property
    def key(self) -> str:
        return make_key(self.name, self.extras)

    @functools.cached_property
    def exact(self) -> bool:
        """Whether the specifier pins a version (``==`` or ``===``): asked for each
        requirement on every project left to pin, every round of a resolution."""
        return any(spec.operator in ("==", "===") for spec in self.specifier)

    @classmethod
    def from_requirement(
        cls,
        requirement: Requirement,
        kind: Kind,
        *,
        url: str | None = None,
        origin: str | None = None,
        via: str | None = None,
    ) -> Req:
        return cls(
            name=canonicalize_name(requirement.name),
            extras=frozenset(canonicalize_name(e) for e in requirement.extras),
            specifier=requirement.specifier,
            kind=kind,
            text=_requirement_text(requirement),
            url=url if url is not None else requirement.url,
            origin=origin,
            via=via,
        )


def _requirement_text(requirement: Requirement) -> str:
    text = str(requirement)
    return text.split(";", 1)[0].strip()


@functools.lru_cache(maxsize=4096)
def parse_requirement(text: str) -> Requirement:
    """A PEP 508 requirement whose versions can also be compared: packaging parses
    ``x==9999…`` of any length, then fails with a ValueError when it compares it (a number
    of thousands of digits); such a one is an InvalidRequirement here, as a typo is.

    The result is shared between callers, never to be changed: a release's Requires-Dist
    is read when its metadata is checked, again when its dependencies are prefetched and
    again when the resolver asks for them, and parsing was a tenth of a run's CPU."""
    requirement = Requirement(text)
    for spec in requirement.specifier:
        if spec.operator == "===":
            continue
        try:
            Version(spec.version.removesuffix(".*"))
        except ValueError:
            version = spec.version if len(spec.version) <= 40 else spec.version[:40] + "…"
            raise InvalidRequirement(
                f"version {version} ({len(spec.version)} characters) cannot be compared"
            ) from None
    return requirement


def make_key(name: str, extras: Iterable[str] = ()) -> str:
    extras = sorted(extras)
    return f"{name}[{','.join(extras)}]" if extras else name


@dataclass(frozen=True)
class Candidate:
    """One version of a project (with extras), and the file that would be installed."""

    name: NormalizedName
    version: Version
    extras: frozenset[str] = frozenset()
    url: str | None = None
    dist: DistFile | None = field(default=None, compare=False)
    builds: bool = field(default=False, compare=False)
    files: tuple[DistFile, ...] = field(default=(), compare=False)
    editable: bool = field(default=False, compare=False)
    uploaded: datetime | None = field(default=None, compare=False)  # the release's first file

    @property
    def key(self) -> str:
        return make_key(self.name, self.extras)

    def base(self) -> Candidate:
        """The candidate without extras (itself when it has none): what its metadata is
        kept by, asked for each time the candidate is offered or pinned."""
        if not self.extras:
            return self
        return replace(self, extras=frozenset())

    def __str__(self) -> str:
        return f"{self.key} {self.version}"


@dataclass(frozen=True)
class DistFile:
    """One distribution file listed by an index or a find-links location."""

    filename: str
    url: str
    name: NormalizedName
    version: Version
    is_wheel: bool
    tags: frozenset[Tag]
    sha256: str | None
    requires_python: SpecifierSet | None = None
    yanked: str | None = None  # the reason ("" when none was given), None if not yanked
    metadata_sha256: str | None = None
    has_metadata: bool = False
    upload_time: datetime | None = None
    build_tag: tuple[int | str, ...] = ()
    size: int | None = None  # bytes, when the index says (PEP 700)

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None


def pins_digest(pins: Iterable[tuple[str, str]]) -> str:
    """A digest of ``name==version`` pins, independent of order and annotations: how a
    lock and its build file name each other, and how a wheel's build environment is named."""
    lines = sorted(f"{canonicalize_name(n)}=={v}" for n, v in pins)
    return "sha256:" + hashlib.sha256("\n".join(lines).encode()).hexdigest()


def normalized_pins(pairs: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """``name==version`` with canonical names, sorted: how a build environment is written."""
    return tuple(sorted(f"{canonicalize_name(n)}=={v}" for n, v in pairs))


@dataclass(frozen=True)
class FileRecord:
    """The file a pin installs on the target, as a pylock package entry lists it."""

    filename: str
    url: str
    sha256: str
    size: int | None
    upload_time: datetime | None
    is_wheel: bool
