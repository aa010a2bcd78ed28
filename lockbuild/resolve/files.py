"""Which file of a release an install on the target would use: the file-choice policy the
provider, the package source and the held-back explanations share (one place, so that
what compile pins is what pip or uv would install)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from packaging.specifiers import Specifier, SpecifierSet
from packaging.utils import NormalizedName
from packaging.version import Version

from lockbuild.model import DistFile
from lockbuild.spec import IndexOptions
from lockbuild.target import Target


def choose_file(
    files: Sequence[DistFile],
    name: NormalizedName,
    target: Target,
    options: IndexOptions,
    allow_yanked: bool,
) -> DistFile | None:
    """The file that installing this release on ``target`` would use: the best compatible
    wheel (the target's most preferred tag, then the highest build tag), else the sdist
    (a ``.tar.gz`` before any other), which is then built; None when neither is usable.
    Yanked files count only with ``allow_yanked``; --only-binary and --no-binary
    (``options``) rule out sdists and wheels of ``name``."""
    best: tuple[int, tuple[Any, ...], DistFile] | None = None
    sdist: DistFile | None = None
    for dist in files:
        if dist.is_yanked and not allow_yanked:
            continue
        if not target.allows_python(dist.requires_python):
            continue
        if dist.is_wheel:
            if not options.binary_allowed(name):
                continue
            rank = target.tag_rank(dist.tags)
            if rank is None:
                continue
            key = (rank, tuple(-x if isinstance(x, int) else 0 for x in dist.build_tag))
            if best is None or key < (best[0], best[1]):
                best = (key[0], key[1], dist)
        elif options.source_allowed(name) and (sdist is None or dist.filename.endswith(".tar.gz")):
            sdist = dist
    return best[2] if best else sdist


def yanked_allowed(specifiers: Iterable[SpecifierSet], version: Version) -> bool:
    """Whether a yanked release may be chosen: only when a requirement pins exactly that
    version (``==`` without a wildcard, or ``===``), as PEP 592 says."""
    return yanked_by_pins(exact_pins(specifiers), version)


def exact_pins(specifiers: Iterable[SpecifierSet]) -> tuple[Specifier, ...]:
    """The specifiers among ``specifiers`` that can let a yanked release be chosen
    (``yanked_allowed``): read once for all the releases of a project."""
    return tuple(
        s
        for spec in specifiers
        for s in spec
        if s.operator in ("==", "===") and not s.version.endswith(".*")
    )


def yanked_by_pins(pins: Iterable[Specifier], version: Version) -> bool:
    """``yanked_allowed`` with the exact pins already picked out (``exact_pins``)."""
    return any(s.contains(version, True) for s in pins)
