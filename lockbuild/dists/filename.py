"""sdist file names as pip reads them: every archive suffix pip accepts, and the version
read as the rest of the stem once the project's name (known from the page) is found at
its start, so that ``pybbox-0.0.5-alpha.zip`` is pybbox 0.0.5a0."""

from __future__ import annotations

import functools

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

# The sdists of one page share the project's name and their stems' leading parts: each
# is normalized once (a page of a long-lived project lists thousands of sdists).
_canonical = functools.lru_cache(maxsize=4096)(canonicalize_name)

# The archive formats pip unpacks (longest first, so ".tar.gz" wins over ".gz" rules).
SDIST_SUFFIXES = (
    ".tar.lzma",
    ".tar.bz2",
    ".tar.gz",
    ".tar.lz",
    ".tar.xz",
    ".tar",
    ".tbz",
    ".tgz",
    ".tlz",
    ".txz",
    ".zip",
)

# One test rules out most names that are no sdist (wheels, .exe, .egg, .msi ...).
_LAST_LETTERS = tuple({suffix[-2:] for suffix in SDIST_SUFFIXES})


def sdist_stem(filename: str) -> str | None:
    """The file name without its archive suffix; None when it is no sdist archive."""
    lowered = filename.lower()
    if not lowered.endswith(_LAST_LETTERS):
        return None
    for suffix in SDIST_SUFFIXES:
        if lowered.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    return None


def split_sdist(filename: str, project: str | None = None) -> tuple[str, str] | None:
    """(name, version) as written in an sdist's file name.

    With ``project`` (the name the page is for), the name is the shortest leading part
    of the stem, ending before a '-', that is that project's name, and the version is
    everything after it, as pip reads it. Without one, the last '-' splits the stem
    (packaging's rule) unless what follows is no version; then the first '-' followed by
    a valid version does. None when no split fits."""
    stem = sdist_stem(filename)
    if stem is None:
        return None
    dashes = _dashes(stem)
    if project is not None:
        wanted = _canonical(project)
        for i in dashes:
            if _canonical(stem[:i]) == wanted and i + 1 < len(stem):
                return stem[:i], stem[i + 1 :]
        return None
    if not dashes:
        return None
    for i in [dashes[-1], *dashes[:-1]]:
        if i > 0 and i + 1 < len(stem) and _is_version(stem[i + 1 :]):
            return stem[:i], stem[i + 1 :]
    return None


def _dashes(text: str) -> list[int]:
    """Where ``text`` has a '-', in order (found by str.find: a page's thousands of sdist
    names were each walked a character at a time)."""
    found = []
    at = text.find("-")
    while at != -1:
        found.append(at)
        at = text.find("-", at + 1)
    return found


def parse_sdist(filename: str, project: str | None = None) -> tuple[NormalizedName, Version]:
    """Normalized name and version of an sdist file name. Raises ValueError."""
    found = split_sdist(filename, project)
    if found is None:
        raise ValueError(f"not an sdist file name: {filename}")
    try:
        return canonicalize_name(found[0]), Version(found[1])
    except InvalidVersion:
        raise ValueError(f"{filename}: invalid version {found[1]!r}") from None


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True
